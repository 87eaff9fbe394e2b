using System.Net;
using System.Text;
using System.Text.Json.Nodes;
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

        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes", "64");
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
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes");
        var id = await api.CreateClusterAsync(ws, new { name = "kept", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // A RayCluster left by a cluster whose row is gone (another store, a crash between delete and removal).
        var ns = "rayfleet-" + ws;
        var orphan = kube.Get("rayclusters", ns, id)!;
        orphan["metadata"] = new JsonObject
        {
            ["name"] = "ray-orphanorphan0000",
            ["namespace"] = ns,
            ["labels"] = new JsonObject { ["rayfleet.io/cluster-id"] = "ray-orphanorphan0000", ["rayfleet.io/instance-id"] = "ray-orphanorphan0000-aaaaaaaa" },
        };
        orphan.Remove("status");
        kube.Put("rayclusters", orphan);
        await Eventually.HoldsAsync(host, () => Task.FromResult(kube.Get("rayclusters", ns, "ray-orphanorphan0000") is null), step: TimeSpan.FromSeconds(10));
        Assert.NotNull(kube.Get("rayclusters", ns, id));
        Assert.Equal("Running", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }

    // KubeRay v1.7.0 raycluster_controller.go:248-349: a fault-tolerant RayCluster is held by the Redis cleanup finalizer
    // until a Job made from the head pod has run; that Job takes REDIS_PASSWORD from the Secret (common/pod.go:149-158).
    [Fact]
    public async Task Deleting_a_fault_tolerant_cluster_lets_KubeRays_Redis_cleanup_finish_before_the_Secret_goes()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes");
        var ns = "rayfleet-" + ws;
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "ft",
            headSpec = new { cpu = "1", memory = "4Gi", gftEnabled = true, gftConfig = new { redisUrl = "redis://redis:6379", redisPassword = "pw" } },
        });
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        Assert.Contains(FakeKubeRay.RedisCleanupFinalizer, FakeKubeApiServer.Finalizers(kube.Get("rayclusters", ns, id)!));

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        await Eventually.HoldsAsync(host, () => Task.FromResult(kube.Get("rayclusters", ns, id) is null));
        Assert.Equal("Complete", kube.KubeRay.RedisCleanups[id]);
        await Eventually.HoldsAsync(host, async () => !await host.Services.ClusterRowExistsAsync(id));
        AssertGoneInOrder(kube, $"rayclusters/{ns}/{id}", $"secrets/{ns}/{id}-gcs-redis");
    }

    [Fact]
    public async Task An_orphaned_fault_tolerant_RayCluster_goes_at_resync_through_KubeRays_Redis_cleanup_and_then_its_Secret()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes");
        var id = await api.CreateClusterAsync(ws, new { name = "kept", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // What a fault-tolerant cluster whose row is gone leaves: its RayCluster, held by KubeRay's finalizer, and its Secret.
        var ns = "rayfleet-" + ws;
        const string orphanId = "ray-orphanorphan0001";
        var labels = new JsonObject
        {
            ["app.kubernetes.io/managed-by"] = "rayfleet",
            ["rayfleet.io/cluster-id"] = orphanId,
            ["rayfleet.io/instance-id"] = orphanId + "-aaaaaaaa",
        };
        kube.Put("secrets", new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = orphanId + "-gcs-redis", ["namespace"] = ns, ["labels"] = labels.DeepClone() },
            ["data"] = new JsonObject { ["password"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("pw")) },
        });
        var orphan = kube.Get("rayclusters", ns, id)!;
        orphan["metadata"] = new JsonObject
        {
            ["name"] = orphanId,
            ["namespace"] = ns,
            ["labels"] = labels.DeepClone(),
            ["finalizers"] = new JsonArray(FakeKubeRay.RedisCleanupFinalizer),
        };
        orphan["spec"]!["gcsFaultToleranceOptions"] = new JsonObject
        {
            ["redisAddress"] = "redis://redis:6379",
            ["redisPassword"] = new JsonObject { ["valueFrom"] = new JsonObject { ["secretKeyRef"] = new JsonObject { ["name"] = orphanId + "-gcs-redis", ["key"] = "password" } } },
        };
        orphan.Remove("status");
        kube.Put("rayclusters", orphan);

        await Eventually.HoldsAsync(host, () => Task.FromResult(kube.Get("secrets", ns, orphanId + "-gcs-redis") is null && kube.Get("rayclusters", ns, orphanId) is null),
            step: TimeSpan.FromSeconds(10));
        Assert.Equal("Complete", kube.KubeRay.RedisCleanups[orphanId]);
        AssertGoneInOrder(kube, $"rayclusters/{ns}/{orphanId}", $"secrets/{ns}/{orphanId}-gcs-redis");
        Assert.Equal("Running", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }

    private static void AssertGoneInOrder(FakeKubeApiServer kube, string first, string then)
    {
        var removals = kube.Removals.ToList();
        Assert.True(removals.IndexOf(first) is >= 0 and var i && removals.IndexOf(then) > i, $"Expected {first} to go before {then}; went: {string.Join(", ", removals)}");
    }
}
