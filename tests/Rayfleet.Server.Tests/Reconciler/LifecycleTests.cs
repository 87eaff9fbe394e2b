using System.Net;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

public sealed class LifecycleTests
{
    private static object TwoGroupCluster(string name = "lifecycle") => new
    {
        name,
        headSpec = new { cpu = "2", memory = "8Gi" },
        workerSpec = new object[]
        {
            new { groupName = "WorkerGroup1", workerType = "CPU", replica = 2, cpu = "4", memory = "16Gi" },
            new { groupName = "small", replica = 1, cpu = "1", memory = "4Gi" },
        },
    };

    [Fact]
    public async Task Whole_lifecycle_on_the_simulated_provider_with_a_fake_clock()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();

        var id = await api.CreateClusterAsync(ws, TwoGroupCluster());
        var created = await api.GetClusterAsync(ws, id);
        Assert.Equal("Starting", created["state"]!.GetValue<string>());
        var firstInstance = created["instanceId"]!.GetValue<string>();
        Assert.StartsWith(id + "-", firstInstance, StringComparison.Ordinal);

        var running = await api.WaitForClusterAsync(ws, id, InState("Running"));
        var nodes = running["instances"]!.AsArray();
        Assert.Equal(4, nodes.Count); // head + 2 + 1
        Assert.Single(nodes, n => n!["type"]!.GetValue<string>() == "Head");
        Assert.All(nodes, n => Assert.Equal("Running", n!["phase"]!.GetValue<string>()));
        Assert.Contains("simulated", running["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("simulated", running["dashboardUrl"]!.GetValue<string>(), StringComparison.Ordinal);

        // Scale a worker group on the running cluster: applies at once, no restart flagged.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}",
            new { workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 3 }, new { groupName = "small" } } })).EnsureOk();
        var scaled = await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 5);
        Assert.False(scaled["modified"]!.GetValue<bool>());
        Assert.Equal(3, scaled["workerSpec"]![0]!["replica"]!.GetValue<int>());

        // A change that needs new nodes waits for the next start.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { headSpec = new { memory = "12Gi" } })).EnsureOk();
        Assert.True((await api.GetClusterAsync(ws, id))["modified"]!.GetValue<bool>());

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop", new { instanceId = firstInstance })).EnsureOk();
        Assert.Equal("Stopping", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
        var stopped = await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        Assert.Empty(stopped["instances"]!.AsArray());
        Assert.Empty(await host.Services.GetSimulatedInstancesAsync());
        Assert.Equal(0m, await api.UsedCuAsync(ws));

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { clientToken = Guid.NewGuid().ToString() })).EnsureOk();
        var restarted = await api.GetClusterAsync(ws, id);
        Assert.Equal("Starting", restarted["state"]!.GetValue<string>());
        var secondInstance = restarted["instanceId"]!.GetValue<string>();
        Assert.NotEqual(firstInstance, secondInstance);
        Assert.False(restarted["modified"]!.GetValue<bool>());
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        Assert.Equal([secondInstance], await host.Services.GetSimulatedInstancesAsync());

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        var gone = await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}");
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);
        Assert.Equal("InvalidRayCluster.NotFound", gone.Code);
        Assert.DoesNotContain(id, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).Body, StringComparison.Ordinal);

        // The tombstone holds until the provider confirms the nodes are gone, then the row and the capacity go.
        await Eventually.HoldsAsync(host, async () => (await host.Services.GetSimulatedInstancesAsync()).Count == 0 && !await host.Services.ClusterRowExistsAsync(id));
    }

    [Fact]
    public async Task Start_and_stop_follow_the_transition_table()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, TwoGroupCluster());
        var path = $"/api/v1/workspaces/{ws}/rayCluster/{id}";

        // Start while Starting or Running: success, nothing changes.
        var before = (await api.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>();
        (await api.PostAsync(path + "/start")).EnsureOk();
        Assert.Equal(before, (await api.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>());

        // Stop naming another instance is refused.
        var wrong = await api.PostAsync(path + "/stop", new { instanceId = id + "-zzzzzzzz" });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.Status);
        Assert.Equal("InvalidParameter", wrong.Code);
        Assert.Contains("instanceId", wrong.Message, StringComparison.Ordinal);

        (await api.PostAsync(path + "/stop")).EnsureOk();
        // While Stopping: Start and Update are denied with 409 naming the state; Stop again is a no-op.
        var start = await api.PostAsync(path + "/start");
        Assert.Equal(HttpStatusCode.Conflict, start.Status);
        Assert.Equal("OperationDenied", start.Code);
        Assert.Contains("Stopping", start.Message, StringComparison.Ordinal);
        var update = await api.PostAsync(path, new { description = "x" });
        Assert.Equal(HttpStatusCode.Conflict, update.Status);
        Assert.Equal("OperationDenied", update.Code);
        (await api.PostAsync(path + "/stop")).EnsureOk();

        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        (await api.PostAsync(path + "/stop")).EnsureOk();
        Assert.Equal("Stopped", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_node_failure_gives_Error_with_a_message_and_Start_recovers_on_a_new_instance()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "flaky",
            extraParam = "{\"simulated\":{\"failOnStart\":true}}",
            headSpec = new { cpu = "1", memory = "4Gi" },
        });
        var failed = await api.WaitForClusterAsync(ws, id, InState("Error"));
        Assert.Contains("failed", failed["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(failed["instances"]!.AsArray(), n => n!["phase"]!.GetValue<string>() == "Failed" && n["containerExitCode"]!.GetValue<int>() == 1);

        // Fix the cause, then start again: a fresh instance, and the failed one's resources are removed.
        var oldInstance = failed["instanceId"]!.GetValue<string>();
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { extraParam = "{}" })).EnsureOk();
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start")).EnsureOk();
        var running = await api.WaitForClusterAsync(ws, id, InState("Running"));
        Assert.NotEqual(oldInstance, running["instanceId"]!.GetValue<string>());
        Assert.Equal([running["instanceId"]!.GetValue<string>()], await host.Services.GetSimulatedInstancesAsync());
    }

    [Fact]
    public async Task Autoscaling_scales_up_within_max_and_down_to_min_after_the_idle_timeout()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "elastic",
            extraParam = "{\"simulated\":{\"busyWorkers\":{\"g\":0}}}",
            headSpec = new { cpu = "1", memory = "4Gi", enableAutoScaling = true, idleTimeoutSeconds = 30 },
            workerSpec = new object[] { new { groupName = "g", replica = 3, minReplica = 1, maxReplica = 4, cpu = "1", memory = "4Gi" } },
        });
        // Starts at replica (3 workers) ...
        await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && Workers(c) == 3);
        // ... and with nothing to do, the idle workers go after idleTimeoutSeconds, down to minReplica.
        var idle = await api.WaitForClusterAsync(ws, id, c => Workers(c) == 1, step: TimeSpan.FromSeconds(5));
        Assert.Equal("Running", idle["state"]!.GetValue<string>());
        Assert.Equal(2m, await api.UsedCuAsync(ws)); // head + one worker, 1 CU each
    }

    private static int Workers(System.Text.Json.Nodes.JsonNode cluster) =>
        cluster["instances"]!.AsArray().Count(n => n!["type"]!.GetValue<string>() == "Worker" && n["phase"]!.GetValue<string>() == "Running");
}
