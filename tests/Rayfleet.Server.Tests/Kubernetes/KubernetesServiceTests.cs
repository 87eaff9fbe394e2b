using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>The whole service, API to reconciler to provider, against the fake API server with a fake KubeRay.</summary>
[Collection(KubernetesCollection.Name)]
public sealed class KubernetesServiceTests
{
    private static Dictionary<string, string?> Settings(FakeKubeApiServer api) => new()
    {
        ["Rayfleet:Kubernetes:Host"] = api.Url,
        ["Rayfleet:Kubernetes:RetryBaseDelay"] = "00:00:00.010",
        ["Rayfleet:Kubernetes:RetryMaxDelay"] = "00:00:00.200",
    };

    [Fact]
    public async Task A_workspace_naming_kubernetes_is_refused_while_the_provider_is_not_configured()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = await api.PostAsync("/api/v1/workspaces", new { workspaceName = "k8s", provider = "kubernetes" });
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        Assert.Equal("InvalidParameter", response.Code);
        Assert.Contains("provider", response.Message, StringComparison.Ordinal);
        Assert.Contains("Rayfleet:Kubernetes", response.Message, StringComparison.Ordinal);
        (await api.PostAsync("/api/v1/workspaces", new { workspaceName = "sim", provider = "simulated" })).EnsureOk();
    }

    [Fact]
    public void A_configuration_that_breaks_a_rule_stops_the_service_at_start_naming_the_setting()
    {
        using (var host = new RayfleetHost(settings: new Dictionary<string, string?> { ["Rayfleet:DefaultProvider"] = "kubernetes" }))
        {
            var ex = Assert.ThrowsAny<Exception>(() => host.Api());
            Assert.Contains("Rayfleet:DefaultProvider: 'kubernetes' is not configured", ex.ToString(), StringComparison.Ordinal);
        }
        using (var host = new RayfleetHost(settings: new Dictionary<string, string?>
               {
                   ["Rayfleet:Kubernetes:Host"] = "http://127.0.0.1:1",
                   ["Rayfleet:Kubernetes:NamespacePattern"] = "Ray_{workspaceId}",
                   ["Rayfleet:Kubernetes:GpuTolerations:0:Operator"] = "Maybe",
               }))
        {
            var ex = Assert.ThrowsAny<Exception>(() => host.Api());
            Assert.Contains("Rayfleet:Kubernetes:NamespacePattern", ex.ToString(), StringComparison.Ordinal);
            Assert.Contains("operator 'Maybe'", ex.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_cluster_lives_its_whole_life_as_a_RayCluster_and_its_password_stays_out_of_logs()
    {
        const string password = "p4ss-w0rd-only-in-a-secret";
        await using var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        var logs = new CapturingLoggerProvider();
        using var host = new RayfleetHost(settings: Settings(kube), services: s => s.AddSingleton<ILoggerProvider>(logs));
        var api = host.Api();

        var ws = (await api.PostAsync("/api/v1/workspaces", new { workspaceName = "k8s", provider = "kubernetes", resourceSpec = new { cu = "64" } }))
            .EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var ns = "rayfleet-" + ws;
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "on-k8s",
            headSpec = new { cpu = "2", memory = "8Gi", gftEnabled = true, gftConfig = new { redisUrl = "redis://redis:6379", redisPassword = password } },
            workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 2, cpu = "4", memory = "16Gi" } },
        });
        var running = await api.WaitForClusterAsync(ws, id, InState("Running"));
        var firstInstance = running["instanceId"]!.GetValue<string>();
        Assert.Equal(3, running["instances"]!.AsArray().Count);
        Assert.Equal($"http://{id}-head-svc.{ns}.svc.cluster.local:8265", running["dashboardUrl"]!.GetValue<string>());
        var rc = kube.Get("rayclusters", ns, id)!;
        Assert.Equal(firstInstance, rc["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());
        var uid = rc["metadata"]!["uid"]!.GetValue<string>();
        Assert.NotNull(kube.Get("secrets", ns, id + "-gcs-redis"));

        // Scale at once.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 3 } } })).EnsureOk();
        await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 4);
        Assert.Equal(3, kube.Get("rayclusters", ns, id)!["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());

        // Stop suspends; Start resumes the same RayCluster under a new instance.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        Assert.True(kube.Get("rayclusters", ns, id)!["spec"]!["suspend"]!.GetValue<bool>());
        Assert.Empty(kube.KubeRay.Pods(ns, id));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start")).EnsureOk();
        var resumed = await api.WaitForClusterAsync(ws, id, InState("Running"));
        var secondInstance = resumed["instanceId"]!.GetValue<string>();
        Assert.NotEqual(firstInstance, secondInstance);
        rc = kube.Get("rayclusters", ns, id)!;
        Assert.Equal(uid, rc["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(secondInstance, rc["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());

        // A change that needs new pods waits for the next Start, which makes the RayCluster anew.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { headSpec = new { memory = "12Gi" } })).EnsureOk();
        Assert.True((await api.GetClusterAsync(ws, id))["modified"]!.GetValue<bool>());
        Assert.Equal("8Gi", kube.Get("rayclusters", ns, id)!["spec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["limits"]!["memory"]!.GetValue<string>());
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        rc = kube.Get("rayclusters", ns, id)!;
        Assert.NotEqual(uid, rc["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal("12Gi", rc["spec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["limits"]!["memory"]!.GetValue<string>());

        // Delete: gone from the API at once; the tombstone stays until the RayCluster is gone.
        kube.HoldDeletions = true;
        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).Status);
        await Eventually.HoldsAsync(host, () => Task.FromResult(kube.Get("rayclusters", ns, id)?["metadata"]?["deletionTimestamp"] is not null));
        for (var i = 0; i < 5; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(1));
            await api.WaitForQuietAsync();
        }
        Assert.True(await host.Services.ClusterRowExistsAsync(id));
        kube.FinishDeletions();
        await Eventually.HoldsAsync(host, async () => !await host.Services.ClusterRowExistsAsync(id));
        Assert.Null(kube.Get("secrets", ns, id + "-gcs-redis"));

        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(password));
        foreach (var text in new[] { password, encoded })
        {
            Assert.DoesNotContain(logs.Lines, l => l.Contains(text, StringComparison.Ordinal));
            Assert.DoesNotContain(kube.Requests, r => r.Path.Contains("/rayclusters", StringComparison.Ordinal) && r.Body.Contains(text, StringComparison.Ordinal));
        }
        Assert.Contains(kube.Requests, r => r.Path.Contains("/secrets/", StringComparison.Ordinal) && r.Body.Contains(encoded, StringComparison.Ordinal));
        Assert.NotEmpty(logs.Lines);
    }

    [Fact]
    public async Task A_RayCluster_no_cluster_owns_is_removed_at_resync()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = (await api.PostAsync("/api/v1/workspaces", new { workspaceName = "k8s", provider = "kubernetes" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var id = await api.CreateClusterAsync(ws, new { name = "kept", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // A RayCluster left by a cluster whose row is gone (another store, a crash between delete and removal).
        var ns = "rayfleet-" + ws;
        var orphan = kube.Get("rayclusters", ns, id)!;
        orphan["metadata"] = new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = "ray-orphanorphan0000",
            ["namespace"] = ns,
            ["labels"] = new System.Text.Json.Nodes.JsonObject { ["rayfleet.io/cluster-id"] = "ray-orphanorphan0000", ["rayfleet.io/instance-id"] = "ray-orphanorphan0000-aaaaaaaa" },
        };
        orphan.Remove("status");
        kube.Put("rayclusters", orphan);
        await Eventually.HoldsAsync(host, () => Task.FromResult(kube.Get("rayclusters", ns, "ray-orphanorphan0000") is null), step: TimeSpan.FromSeconds(10));
        Assert.NotNull(kube.Get("rayclusters", ns, id));
        Assert.Equal("Running", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }
}
