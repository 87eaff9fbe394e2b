using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

public sealed class RestartTests
{
    [Fact]
    public async Task A_host_stopped_mid_reconcile_is_replaced_by_one_on_the_same_data_folder_and_every_cluster_converges()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        try
        {
            string ws;
            List<string> running, stopping, deleted, waiting;
            using (var first = new RayfleetHost(dataDirectory, clock))
            {
                var api = first.Api();
                ws = await api.DefaultWorkspaceAsync();
                (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "q", resourceSpec = new { cu = 24 } })).EnsureOk();
                var all = new List<string>();
                for (var i = 0; i < 8; i++)
                    all.Add(await api.CreateClusterAsync(ws, new
                    {
                        name = $"c{i}",
                        headSpec = new { cpu = "1", memory = "4Gi", queueName = "q" },
                        workerSpec = new object[] { new { groupName = "w", replica = 2, cpu = "1", memory = "4Gi", queueName = "q" } },
                    }));
                // 3 CU each in a 24 CU queue: all fit. Bring some up, then change the rest mid-flight.
                await api.WaitForClusterAsync(ws, all[0], InState("Running"));
                running = [.. all[..4], all[7]];
                stopping = all[4..6];
                deleted = all[6..7];
                foreach (var id in stopping) (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
                foreach (var id in deleted) (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
                (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{running[1]}", new { workerSpec = new object[] { new { groupName = "w", replica = 3 } } })).EnsureOk();
                // A cluster that cannot be admitted until another goes away.
                waiting = [await api.CreateClusterAsync(ws, new
                {
                    name = "big",
                    headSpec = new { cpu = "8", memory = "8Gi", queueName = "q" },
                })];
                // Stop the host right away, with passes in flight and stop delays not yet elapsed.
            }

            using var second = new RayfleetHost(dataDirectory, clock);
            var api2 = second.Api();
            foreach (var id in running)
                await api2.WaitForClusterAsync(ws, id, InState("Running"));
            foreach (var id in stopping)
                await api2.WaitForClusterAsync(ws, id, InState("Stopped"));
            foreach (var id in deleted)
                Assert.Equal(System.Net.HttpStatusCode.NotFound, (await api2.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).Status);
            var scaled = await api2.WaitForClusterAsync(ws, running[1], c => c["instances"]!.AsArray().Count == 4);
            Assert.Equal("Running", scaled["state"]!.GetValue<string>());
            await api2.WaitForClusterAsync(ws, waiting[0], InState("Running"));

            // Nothing lost, nothing duplicated: one provider instance per cluster that should run, each the cluster's
            // current instance; no rows for deleted clusters; queue use equals the sum of what runs.
            await Eventually.HoldsAsync(second, async () => !await second.Services.ClusterRowExistsAsync(deleted[0]));
            var instances = await second.Services.GetSimulatedInstancesAsync();
            var expected = new List<string>();
            foreach (var id in running.Concat(waiting))
                expected.Add((await api2.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>());
            Assert.Equal(expected.Order(StringComparer.Ordinal), instances.Order(StringComparer.Ordinal));
            // 3 CU for each of the running five, one more for the scaled one, 8 for "big".
            Assert.Equal(24m, await api2.UsedCuAsync(ws, "q"));

            await using var scope = second.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            Assert.Equal(running.Count + stopping.Count + waiting.Count, await db.Clusters.CountAsync());
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            RayfleetHost.TryDelete(dataDirectory);
        }
    }

    [Fact]
    public async Task A_provider_instance_that_no_cluster_owns_is_removed_at_resync()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "owned", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // Leftover of an earlier life: an instance file for a cluster the store does not know.
        var orphan = Path.Combine(host.DataDirectory, "simulated", "ray-orphan0000000000-abcdefgh.json");
        File.Copy(Directory.GetFiles(Path.Combine(host.DataDirectory, "simulated"))[0], orphan);
        Assert.Equal(2, (await host.Services.GetSimulatedInstancesAsync()).Count);

        await Eventually.HoldsAsync(host, async () => (await host.Services.GetSimulatedInstancesAsync()).Count == 1, step: TimeSpan.FromSeconds(31));
        Assert.Equal("Running", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }
}
