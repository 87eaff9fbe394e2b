using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

public sealed class AdmissionTests
{
    // Head 2 CU + one worker 2 CU = 4 CU per cluster.
    internal static object FourCu(string name) => new
    {
        name,
        headSpec = new { cpu = "2", memory = "8Gi", queueName = "small" },
        workerSpec = new object[] { new { groupName = "w", replica = 1, cpu = "2", memory = "8Gi", queueName = "small" } },
    };

    [Fact]
    public async Task Parallel_creates_never_over_admit_a_queue_and_the_extra_cluster_starts_when_capacity_frees()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "small", resourceSpec = new { cu = 10 } })).EnsureOk();

        // Ten clusters of 4 CU race for a 10 CU queue: exactly two fit.
        var ids = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => api.CreateClusterAsync(ws, FourCu($"c{i}"))));
        await Eventually.HoldsAsync(host, async () => (await RunningAsync(api, ws, ids)).Count == 2);

        // Let time pass well beyond every start delay: still two, never more, and the queue says so.
        for (var i = 0; i < 10; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(5));
            await api.WaitForQuietAsync();
            Assert.True(await api.UsedCuAsync(ws, "small") <= 10m);
        }
        var running = await RunningAsync(api, ws, ids);
        Assert.Equal(2, running.Count);
        Assert.Equal(8m, await api.UsedCuAsync(ws, "small"));

        var waiting = ids.Except(running).ToList();
        foreach (var id in waiting)
        {
            var c = await api.GetClusterAsync(ws, id);
            Assert.Equal("Starting", c["state"]!.GetValue<string>());
            var message = c["message"]!.GetValue<string>();
            Assert.Contains("small", message, StringComparison.Ordinal);
            Assert.Contains("needs 4 CU", message, StringComparison.Ordinal);
            Assert.Contains("2 CU free", message, StringComparison.Ordinal);
            Assert.Empty(c["instances"]!.AsArray());
        }

        // Stopping one running cluster frees 4 CU: exactly one waiting cluster starts.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{running[0]}/stop")).EnsureOk();
        await api.WaitForClusterAsync(ws, running[0], InState("Stopped"));
        await Eventually.HoldsAsync(host, async () => (await RunningAsync(api, ws, waiting)).Count == 1);
        for (var i = 0; i < 5; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(5));
            await api.WaitForQuietAsync();
        }
        Assert.Single(await RunningAsync(api, ws, waiting));
        Assert.Equal(8m, await api.UsedCuAsync(ws, "small"));
    }

    [Fact]
    public async Task Concurrent_creates_on_a_large_queue_are_all_admitted_without_waiting_on_each_other()
    {
        // Found by the benchmark: a cluster the reconciler had not reached yet used to hold back every later one.
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "small", resourceSpec = new { cu = 1000 } })).EnsureOk();
        var ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => api.CreateClusterAsync(ws, FourCu($"c{i}"))));
        // One start delay of the simulated nodes is enough for all of them: no resync (30 s) is needed.
        await api.WaitForQuietAsync();
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        await api.WaitForQuietAsync();
        Assert.Equal(16, (await RunningAsync(api, ws, ids)).Count);
    }

    [Fact]
    public async Task Waiting_clusters_start_first_come_first_served()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "small", resourceSpec = new { cu = 4 } })).EnsureOk();

        var first = await api.CreateClusterAsync(ws, FourCu("first"));
        await api.WaitForClusterAsync(ws, first, InState("Running"));
        var second = await api.CreateClusterAsync(ws, FourCu("second"));
        await api.WaitForQuietAsync();
        host.Clock.Advance(TimeSpan.FromSeconds(1));
        var third = await api.CreateClusterAsync(ws, FourCu("third"));
        await api.WaitForQuietAsync();

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{first}")).EnsureOk();
        await api.WaitForClusterAsync(ws, second, InState("Running"));
        Assert.Equal("Starting", (await api.GetClusterAsync(ws, third))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_scale_up_beyond_free_capacity_keeps_the_cluster_running_at_its_old_size()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "small", resourceSpec = new { cu = 10 } })).EnsureOk();
        var id = await api.CreateClusterAsync(ws, FourCu("grow"));
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // 2 + 5 * 2 = 12 CU > 10: fits the capacity of nothing else, but not now... and never: QuotaExceeded.
        var tooBig = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "w", replica = 5 } } });
        Assert.Equal("QuotaExceeded", tooBig.Code);

        // Another cluster takes 4 CU; growing to 8 CU (needs 4 more, 2 free) waits while the cluster keeps running.
        var other = await api.CreateClusterAsync(ws, FourCu("other"));
        await api.WaitForClusterAsync(ws, other, InState("Running"));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "w", replica = 3 } } })).EnsureOk();
        var held = await api.WaitForClusterAsync(ws, id, c => c["message"]?.GetValue<string>()?.Contains("Scale-up waiting", StringComparison.Ordinal) == true);
        Assert.Equal("Running", held["state"]!.GetValue<string>());
        Assert.Equal(2, held["instances"]!.AsArray().Count);
        Assert.Equal(8m, await api.UsedCuAsync(ws, "small"));

        // Freed capacity lets the scale-up through.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{other}/stop")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 4);
        Assert.Equal(8m, await api.UsedCuAsync(ws, "small"));
    }

    private static async Task<List<string>> RunningAsync(ApiClient api, string ws, IEnumerable<string> ids)
    {
        var result = new List<string>();
        foreach (var id in ids)
        {
            JsonNode c = await api.GetClusterAsync(ws, id);
            if (c["state"]!.GetValue<string>() == "Running") result.Add(id);
        }
        return result;
    }
}
