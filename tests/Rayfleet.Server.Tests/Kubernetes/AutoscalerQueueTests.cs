using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Core.Capacity;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// KubeRay v1.7.0 adds an autoscaler sidecar to the head pod of an autoscaling cluster (common/pod.go ~251–283), 500m
/// and 512Mi unless autoscalerOptions.resources says otherwise (~989–998, ~1006). The queue counts it on Kubernetes,
/// where it runs, and nowhere else.
/// </summary>
[Collection(KubernetesCollection.Name)]
public sealed class AutoscalerQueueTests
{
    private static Dictionary<string, string?> Settings(FakeKubeApiServer api) => new()
    {
        ["Rayfleet:Kubernetes:Host"] = api.Url,
        ["Rayfleet:Kubernetes:RetryBaseDelay"] = "00:00:00.010",
        ["Rayfleet:Kubernetes:RetryMaxDelay"] = "00:00:00.200",
    };

    private static object Body(bool autoscaling) => new
    {
        name = "scales",
        headSpec = new { cpu = "2", memory = "8Gi", enableAutoScaling = autoscaling },
        workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 1, minReplica = 1, maxReplica = 3, cpu = "4", memory = "16Gi" } },
    };

    private static async Task<string> WorkspaceAsync(ApiClient api, string provider, string cu) =>
        (await api.PostAsync("/api/v1/workspaces", new { workspaceName = provider + cu, provider, resourceSpec = new { cu } }))
        .EnsureOk().Json["workspaceId"]!.GetValue<string>();

    private static (long MilliCpu, long MemoryBytes) Sum(IEnumerable<JsonObject> pods)
    {
        long cpu = 0, memory = 0;
        foreach (var container in pods.SelectMany(p => p["spec"]!["containers"]!.AsArray()))
        {
            cpu += Quantity.ParseCpuMillis(container!["resources"]!["requests"]!["cpu"]!.GetValue<string>())!.Value;
            memory += Quantity.ParseMemoryBytes(container["resources"]!["requests"]!["memory"]!.GetValue<string>())!.Value;
        }
        return (cpu, memory);
    }

    [Fact]
    public async Task An_autoscaling_cluster_holds_its_autoscaler_sidecar_on_kubernetes_where_its_pods_request_it_and_not_elsewhere()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await WorkspaceAsync(api, "kubernetes", "64");
        var id = await api.CreateClusterAsync(ws, Body(autoscaling: true));
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        var rc = kube.Get("rayclusters", "rayfleet-" + ws, id)!;
        Assert.Equal("v2", rc["spec"]!["autoscalerOptions"]!["version"]!.GetValue<string>());
        Assert.Equal("500m", rc["spec"]!["autoscalerOptions"]!["resources"]!["limits"]!["cpu"]!.GetValue<string>());

        // Head pod 2 + 0.5 cores, 8Gi + 512Mi: max(2.5, 2.125) = 2.5 CU; the worker at minReplica 4 CU.
        var used = await api.QueueUsageAsync(ws);
        Assert.Equal(("6.5", "6.5", "25088Mi"), (used["cu"]!.GetValue<string>(), used["cpu"]!.GetValue<string>(), used["memory"]!.GetValue<string>()));
        var pods = kube.KubeRay.Pods("rayfleet-" + ws, id);
        Assert.Equal((6500L, (24L << 30) + (512L << 20)), Sum(pods));

        // The demand index the API wrote is what admission granted: one computation in both places.
        using var scope = host.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var demand = await db.Demands.AsNoTracking().Where(d => d.ClusterId == id).Select(d => new { d.QueueName, d.MilliCpu, d.MemoryBytes, d.MilliCu }).SingleAsync();
        var grant = await db.Reservations.AsNoTracking().Where(r => r.ClusterId == id).Select(r => new { r.QueueName, r.MilliCpu, r.MemoryBytes, r.MilliCu }).SingleAsync();
        Assert.Equal(demand, grant);
        Assert.Equal(6500, grant.MilliCu);

        // On a provider that runs no autoscaler process (local and simulated keep a group within what admission
        // granted themselves), the same cluster holds its nodes only.
        var simulated = await WorkspaceAsync(api, "simulated", "64");
        var onSimulated = await api.CreateClusterAsync(simulated, Body(autoscaling: true));
        await api.WaitForClusterAsync(simulated, onSimulated, InState("Running"));
        var usedThere = await api.QueueUsageAsync(simulated);
        Assert.Equal(("6", "6", "24Gi"), (usedThere["cu"]!.GetValue<string>(), usedThere["cpu"]!.GetValue<string>(), usedThere["memory"]!.GetValue<string>()));
        var catalogs = host.Services.GetRequiredService<Catalogs>();
        Assert.Equal(AutoscalerFootprint.None, catalogs.Autoscaler(ProviderNames.Local));
        Assert.Equal(AutoscalerFootprint.None, catalogs.Autoscaler(ProviderNames.Simulated));
    }

    [Fact]
    public async Task Create_on_kubernetes_counts_the_autoscaler_sidecar_against_the_queues_capacity()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        using var host = new RayfleetHost(settings: new Dictionary<string, string?>(Settings(kube))
        {
            ["Rayfleet:Kubernetes:AutoscalerCpu"] = "1",
            ["Rayfleet:Kubernetes:AutoscalerMemory"] = "1Gi",
        });
        var api = host.Api();

        // Head 2 + worker 4 = 6 CU fills a 6 CU queue exactly; with autoscaling the head pod also holds the 1-core
        // sidecar, 7 CU, which the queue can never give.
        var kubernetes = await WorkspaceAsync(api, "kubernetes", "6");
        var refused = await api.PostAsync($"/api/v1/workspaces/{kubernetes}/rayCluster", Body(autoscaling: true));
        Assert.Equal((HttpStatusCode.BadRequest, "QuotaExceeded"), (refused.Status, refused.Code));
        Assert.Contains("7 CU", refused.Message, StringComparison.Ordinal);
        await api.CreateClusterAsync(kubernetes, Body(autoscaling: false));

        var simulated = await WorkspaceAsync(api, "simulated", "6");
        await api.CreateClusterAsync(simulated, Body(autoscaling: true));
        Assert.Equal(new AutoscalerFootprint(1000, 1L << 30), host.Services.GetRequiredService<Catalogs>().Autoscaler(ProviderNames.Kubernetes));
    }
}
