using System.Net;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>The provider through the real KubernetesClient against the fake API server.</summary>
[Collection(KubernetesCollection.Name)]
public sealed class ProviderTests
{
    private const string I1 = ClusterId + "-first001";
    private const string I2 = ClusterId + "-second02";

    private static ClusterSpec Spec => TwoGroups;

    private static bool IsRayClusterPatch(FakeKubeApiServer.RecordedRequest r) => r.Method == "PATCH" && r.Path.Contains("/rayclusters/", StringComparison.Ordinal);

    private static async Task<ProviderHarness> RunningAsync(Action<KubernetesProviderOptions>? configure = null)
    {
        var h = await ProviderHarness.StartAsync(configure);
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Ready);
        return h;
    }

    [Fact]
    public async Task Create_applies_a_RayCluster_server_side_in_a_new_namespace_and_follows_KubeRay_to_ready()
    {
        await using var h = await ProviderHarness.StartAsync();
        var ns = h.Namespace();
        Assert.Equal("rayfleet-" + WorkspaceId, ns);

        var first = await h.ApplyAsync(h.Request(Spec, I1));
        Assert.Equal(ObservedPhase.Pending, first.Phase);
        Assert.Contains("Waiting for KubeRay to create the head pod", first.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(5), first.RequeueAfter);

        var namespaceObject = h.Api.Get("namespaces", null, ns)!;
        Assert.Equal(WorkspaceId, namespaceObject["metadata"]!["labels"]!["rayfleet.io/workspace-id"]!.GetValue<string>());
        var apply = h.Api.Requests.Single(IsRayClusterPatch);
        Assert.Equal("application/apply-patch+yaml", apply.ContentType?.Split(';')[0]);
        Assert.Contains("fieldManager=rayfleet", apply.Query, StringComparison.Ordinal);
        Assert.Contains("force=true", apply.Query, StringComparison.Ordinal);
        Assert.Contains("fieldValidation=Strict", apply.Query, StringComparison.Ordinal);
        var stored = h.Api.Get("rayclusters", ns, ClusterId)!;
        Assert.Equal(I1, stored["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());

        // KubeRay makes the pods; the watch reports the change and the next apply sees it.
        h.ForgetChanges();
        h.KubeRay.Reconcile(ns, ClusterId);
        await h.ChangedAsync();
        var ready = await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Ready);
        Assert.Equal(4, ready.Nodes.Count);
        Assert.Null(ready.RequeueAfter);
        Assert.Equal($"http://{ClusterId}-head-svc.{ns}.svc.cluster.local:8265", ready.Endpoints.DashboardUrl);
        Assert.Equal($"ray://{ClusterId}-head-svc.{ns}.svc.cluster.local:10001", ready.Endpoints.GrpcEndpoint);

        // Nothing changed: nothing is written.
        var patches = h.Api.Requests.Count(IsRayClusterPatch);
        await h.ApplyAsync(h.Request(Spec, I1));
        Assert.Equal(patches, h.Api.Requests.Count(IsRayClusterPatch));
        Assert.Equal([I1], await h.Provider.ListInstancesAsync(null, CancellationToken.None));
    }

    [Fact]
    public async Task Every_condition_combination_written_to_the_fake_is_followed_by_the_observation()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        h.KubeRay.Auto = false;
        foreach (var row in StatusMappingTests.ConditionTable())
        {
            var (head, provisioned, failure, suspended, expected) = ((string?)row[0], (string?)row[1], (string?)row[2], (string?)row[3], (string)row[4]);
            var conditions = new System.Text.Json.Nodes.JsonArray();
            if (head is not null) conditions.Add(FakeKubeRay.Condition("HeadPodReady", head, "HeadPodRunningAndReady"));
            if (provisioned is not null) conditions.Add(FakeKubeRay.Condition("RayClusterProvisioned", provisioned, "AllPodRunningAndReadyFirstTime"));
            if (failure is not null) conditions.Add(FakeKubeRay.Condition("ReplicaFailure", failure, "FailedCreateWorkerPod", "exceeded quota"));
            if (suspended is not null) conditions.Add(FakeKubeRay.Condition("RayClusterSuspended", suspended, "RayClusterSuspended"));
            var written = h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["status"] = new System.Text.Json.Nodes.JsonObject
            {
                ["state"] = "ready",
                ["observedGeneration"] = rc["metadata"]!["generation"]!.DeepClone(),
                ["readyWorkerReplicas"] = 3,
                ["desiredWorkerReplicas"] = 3,
                ["conditions"] = conditions,
            });
            var rv = written["metadata"]!["resourceVersion"]!.GetValue<string>();
            await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["metadata"]?["resourceVersion"]?.GetValue<string>() == rv, "the status in the cache");
            var observation = await h.ApplyAsync(h.Request(Spec, I1));
            Assert.True(expected == observation.Phase.ToString(), $"HeadPodReady={head}, RayClusterProvisioned={provisioned}, ReplicaFailure={failure}, RayClusterSuspended={suspended}: expected {expected}, got {observation.Phase} ({observation.Message})");
        }
    }

    [Fact]
    public async Task Scaling_changes_replicas_in_place()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        var uid = h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>();
        var scaled = await h.ApplyUntilAsync(
            h.Request(Spec, I1, new Dictionary<string, int> { ["WorkerGroup1"] = 3, ["small"] = 1 }),
            o => o.Phase == ObservedPhase.Ready && o.Nodes.Count == 5);
        Assert.Equal(3, scaled.Nodes.Count(n => n.GroupName == "WorkerGroup1"));
        var stored = h.Api.Get("rayclusters", ns, ClusterId)!;
        Assert.Equal(uid, stored["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(3, stored["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());
    }

    [Fact]
    public async Task Stop_suspends_and_Start_resumes_the_same_RayCluster_as_a_new_instance()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        var uid = h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>();

        Assert.False(await h.Provider.StopAsync(I1, CancellationToken.None));
        Assert.True(h.Api.Get("rayclusters", ns, ClusterId)!["spec"]!["suspend"]!.GetValue<bool>());
        var suspend = h.Api.Requests.Last(r => r.Method == "PATCH");
        Assert.StartsWith("application/merge-patch+json", suspend.ContentType, StringComparison.Ordinal);
        h.KubeRay.Reconcile(ns, ClusterId); // KubeRay deletes the pods of a suspended cluster
        Assert.True(await h.Provider.StopAsync(I1, CancellationToken.None));
        Assert.Empty(h.KubeRay.Pods(ns, ClusterId));
        // The stopped cluster keeps its RayCluster, listed under the stopped instance.
        Assert.Equal([I1], await h.Provider.ListInstancesAsync(ClusterId, CancellationToken.None));

        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["status"]?["state"]?.GetValue<string>() == "suspended", "the suspended status in the cache");
        var resumed = await h.ApplyUntilAsync(h.Request(Spec, I2), o => o.Phase == ObservedPhase.Ready);
        var stored = h.Api.Get("rayclusters", ns, ClusterId)!;
        Assert.Equal(uid, stored["metadata"]!["uid"]!.GetValue<string>());
        Assert.False(stored["spec"]!["suspend"]!.GetValue<bool>());
        Assert.Equal(I2, stored["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());
        Assert.All(h.KubeRay.Pods(ns, ClusterId), p => Assert.Equal(I2, FakeKubeRay.Label(p, "rayfleet.io/instance-id")));
        Assert.Equal(4, resumed.Nodes.Count);
        Assert.DoesNotContain(h.Api.Requests, r => r.Method == "DELETE" && r.Path.Contains("/rayclusters/", StringComparison.Ordinal));
        Assert.Equal([I2], await h.Provider.ListInstancesAsync(ClusterId, CancellationToken.None));
    }

    [Fact]
    public async Task A_Start_after_a_change_that_needs_new_pods_recreates_the_RayCluster()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        var uid = h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>();
        Assert.False(await h.Provider.StopAsync(I1, CancellationToken.None));
        h.KubeRay.Reconcile(ns, ClusterId);
        Assert.True(await h.Provider.StopAsync(I1, CancellationToken.None));

        h.Api.HoldDeletions = true;
        var changed = Spec with { Head = Spec.Head with { Memory = "12Gi" } };
        var recreating = await h.ApplyAsync(h.Request(changed, I2));
        Assert.Equal(ObservedPhase.Pending, recreating.Phase);
        Assert.Contains("need new pods", recreating.Message, StringComparison.Ordinal);
        var delete = h.Api.Requests.Single(r => r.Method == "DELETE" && r.Path.Contains("/rayclusters/", StringComparison.Ordinal));
        Assert.Contains("propagationPolicy=Foreground", delete.Query, StringComparison.Ordinal);
        Assert.Contains(uid, delete.Body, StringComparison.Ordinal); // the uid precondition

        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["metadata"]?["deletionTimestamp"] is not null, "the deletion in the cache");
        var waiting = await h.ApplyAsync(h.Request(changed, I2));
        Assert.Contains("to be deleted", waiting.Message, StringComparison.Ordinal);

        h.Api.FinishDeletions();
        await h.ApplyUntilAsync(h.Request(changed, I2), o => o.Phase == ObservedPhase.Ready);
        var stored = h.Api.Get("rayclusters", ns, ClusterId)!;
        Assert.NotEqual(uid, stored["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal("12Gi", stored["spec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!["resources"]!["limits"]!["memory"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_Start_from_Error_replaces_the_failed_pods_with_fresh_ones()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        h.KubeRay.CrashHead(ns, ClusterId, exitCode: 137);
        var failed = await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Failed);
        Assert.Contains("CrashLoopBackOff", failed.Message, StringComparison.Ordinal);
        Assert.Contains("137", failed.Message, StringComparison.Ordinal);

        // Same spec, new instance, but the old pods still run: the RayCluster is made anew.
        var uid = h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>();
        await h.ApplyUntilAsync(h.Request(Spec, I2), o => o.Phase == ObservedPhase.Ready);
        Assert.NotEqual(uid, h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>());
    }

    [Fact]
    public async Task Remove_deletes_in_the_foreground_and_is_true_only_once_the_RayCluster_is_gone()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        h.Api.HoldDeletions = true;
        Assert.False(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        Assert.NotNull(h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["deletionTimestamp"]);
        Assert.False(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        Assert.Single(h.Api.Requests, r => r.Method == "DELETE" && r.Path.Contains("/rayclusters/", StringComparison.Ordinal));

        h.Api.FinishDeletions();
        Assert.True(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId) is null, "the DELETED event");
        Assert.Empty(await h.Provider.ListInstancesAsync(null, CancellationToken.None));
        // An instance the provider never had is removed at once.
        Assert.True(await h.Provider.RemoveAsync(ClusterId + "-unknown1", CancellationToken.None));
    }

    // KubeRay v1.7.0: a fault-tolerant RayCluster carries ray.io/gcs-ft-redis-cleanup-finalizer (raycluster_controller.go
    // 248-256, utils/constant.go:88); on delete a Job made from the head pod (buildRedisCleanupJob, 1807) reads
    // REDIS_PASSWORD from the Secret (common/pod.go:149-158), and the finalizer goes once the Job finished (310-311).
    [Fact]
    public async Task Remove_of_a_fault_tolerant_cluster_keeps_the_Redis_Secret_until_KubeRays_cleanup_released_the_RayCluster()
    {
        await using var h = await ProviderHarness.StartAsync();
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(FaultTolerant(h), I1), o => o.Phase == ObservedPhase.Ready);
        var ns = h.Namespace();
        var secret = ClusterId + "-gcs-redis";
        Assert.Contains(FakeKubeRay.RedisCleanupFinalizer, FakeKubeApiServer.Finalizers(h.Api.Get("rayclusters", ns, ClusterId)!));

        // From here the test runs KubeRay's reconcile itself.
        h.KubeRay.Auto = false;
        Assert.False(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        Assert.False(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        Assert.NotNull(h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["deletionTimestamp"]);
        Assert.NotNull(h.Api.Get("secrets", ns, secret));
        Assert.Contains(I1, await h.Provider.ListInstancesAsync(null, CancellationToken.None));

        h.KubeRay.Reconcile(ns, ClusterId);
        Assert.Equal("Complete", h.KubeRay.RedisCleanups[ClusterId]);
        Assert.Null(h.Api.Get("rayclusters", ns, ClusterId));
        // The RayCluster is gone, its Secret not yet: the instance is still there to remove.
        Assert.Contains(I1, await h.Provider.ListInstancesAsync(ClusterId, CancellationToken.None));
        Assert.True(await h.Provider.RemoveAsync(I1, CancellationToken.None));
        Assert.Null(h.Api.Get("secrets", ns, secret));
        var removals = h.Api.Removals.ToList();
        Assert.True(removals.IndexOf($"rayclusters/{ns}/{ClusterId}") is >= 0 and var rayCluster
                    && removals.IndexOf($"secrets/{ns}/{secret}") > rayCluster, string.Join(", ", removals));
        Assert.Empty(await h.Provider.ListInstancesAsync(null, CancellationToken.None));
    }

    private static ClusterSpec FaultTolerant(ProviderHarness h) => Minimal with
    {
        Head = Minimal.Head with
        {
            GftEnabled = true,
            GftConfig = new GftSettings("redis://redis:6379", null, h.Protection.CreateProtector(ClusterSecrets.RedisPasswordPurpose).Protect("pw")),
        },
    };

    [Fact]
    public async Task A_watch_broken_with_410_Gone_lists_again_and_sees_what_changed_meanwhile()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        var lists = h.Provider.Cache.Lists;
        h.Api.Compact();
        h.Api.CloseWatches();
        // Changed while no watch runs: only the list after the 410 can tell.
        h.KubeRay.CrashHead(ns, ClusterId);
        await Conditions.UntilAsync(() => h.Provider.Cache.GoneCount >= 1 && h.Provider.Cache.Lists > lists, "a 410 and a new list");
        var failed = await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Failed);
        Assert.Contains("CrashLoopBackOff", failed.Message, StringComparison.Ordinal);
        Assert.Contains(h.Api.Requests, r => r.Query.Contains("watch=true", StringComparison.Ordinal) && r.Query.Contains("allowWatchBookmarks=true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_closed_watch_resumes_from_the_last_bookmark()
    {
        await using var h = await RunningAsync();
        var ns = h.Namespace();
        await Conditions.UntilAsync(() => h.Api.WatchCount >= 2, "both watches open");
        // Objects the watches do not select move the resourceVersion on; a bookmark tells the watches.
        h.Api.AddEvent(ns, "elsewhere", "Unrelated", "not ours", "Normal");
        h.Api.AddEvent(ns, "elsewhere", "Unrelated", "not ours", "Normal");
        var bookmarkRv = h.Api.List("events", ns).Max(e => long.Parse(e["metadata"]!["resourceVersion"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        var lists = h.Provider.Cache.Lists;
        var watchesBefore = h.Api.Requests.Count(r => r.Query.Contains("watch=true", StringComparison.Ordinal));
        h.Api.SendBookmarks();
        h.Api.CloseWatches(); // the bookmark is delivered before the end of the stream
        await Conditions.UntilAsync(() => h.Api.Requests.Count(r => r.Query.Contains("watch=true", StringComparison.Ordinal)) >= watchesBefore + 2, "two resumed watches");
        var resumed = h.Api.Requests.Where(r => r.Query.Contains("watch=true", StringComparison.Ordinal)).Skip(watchesBefore).ToList();
        Assert.All(resumed, r => Assert.Contains($"resourceVersion={bookmarkRv}", r.Query, StringComparison.Ordinal));
        Assert.Equal(lists, h.Provider.Cache.Lists); // resumed, not listed again
    }

    [Fact]
    public async Task Throttling_and_server_errors_are_retried_honouring_Retry_After()
    {
        await using var h = await ProviderHarness.StartAsync(o => o.RetryMaxDelay = TimeSpan.FromSeconds(2));
        h.Api.Fail(r => r.Method == "PATCH", HttpStatusCode.TooManyRequests, times: 1, retryAfter: "1");
        h.Api.Fail(r => r.Method == "PATCH", HttpStatusCode.ServiceUnavailable, times: 1);
        h.Api.Fail(r => r.Method == "PATCH", HttpStatusCode.InternalServerError, times: 1);
        var started = DateTime.UtcNow;
        var observation = await h.ApplyAsync(h.Request(Spec, I1));
        Assert.Equal(ObservedPhase.Pending, observation.Phase);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(0.9), "Retry-After: 1 was not waited for");
        Assert.Equal([429, 503, 500, 201], h.Api.Requests.Where(IsRayClusterPatch).Select(r => r.Status));

        // A call that never answers is cut off and tried again.
        await using var slow = await ProviderHarness.StartAsync(o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));
        slow.Api.Stall(r => r.Method == "GET" && r.Path.Value!.StartsWith("/api/v1/namespaces/", StringComparison.Ordinal), times: 1);
        Assert.Equal(ObservedPhase.Pending, (await slow.ApplyAsync(slow.Request(Spec, I1))).Phase);
        Assert.Contains(slow.Logs.Lines, l => l.Contains("get namespace", StringComparison.Ordinal) && l.Contains("timed out", StringComparison.Ordinal));

        // Past the attempts the failure surfaces, with the server's message.
        await using var down = await ProviderHarness.StartAsync(o => o.RetryAttempts = 3);
        down.Api.Fail(r => r.Method == "GET" && r.Path.Value == "/api/v1/namespaces/" + down.Namespace(), HttpStatusCode.BadGateway, times: 3);
        var ex = await Assert.ThrowsAsync<KubernetesApiException>(() => down.ApplyAsync(down.Request(Spec, I1)));
        Assert.Equal(HttpStatusCode.BadGateway, ex.Status);
        Assert.Contains("injected fault", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_conflict_on_apply_is_read_again_and_retried()
    {
        await using var h = await RunningAsync();
        h.Api.Fail(IsRayClusterPatchRequest, HttpStatusCode.Conflict, times: 1);
        var before = h.Api.Requests.Count;
        var scaled = await h.ApplyAsync(h.Request(Spec, I1, new Dictionary<string, int> { ["WorkerGroup1"] = 1, ["small"] = 1 }));
        var after = h.Api.Requests.Skip(before).ToList();
        Assert.Equal(new (string, int)[] { ("PATCH", 409), ("GET", 200), ("PATCH", 200) }, after.Where(r => !r.Query.Contains("watch", StringComparison.Ordinal) && !r.Path.EndsWith("/events", StringComparison.Ordinal)).Select(r => (r.Method, r.Status)));
        Assert.Equal(1, h.Api.Get("rayclusters", h.Namespace(), ClusterId)!["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());
        Assert.NotEqual(ObservedPhase.Failed, scaled.Phase);
    }

    private static bool IsRayClusterPatchRequest(Microsoft.AspNetCore.Http.HttpRequest r) =>
        r.Method == "PATCH" && r.Path.Value!.Contains("/rayclusters/", StringComparison.Ordinal);

    [Fact]
    public async Task A_slow_API_call_for_one_cluster_never_blocks_another()
    {
        await using var h = await ProviderHarness.StartAsync(o => o.RequestTimeout = TimeSpan.FromSeconds(30));
        const string other = "ray-zzzzzzzzzzzzzzzz";
        var release = h.Api.Stall(r => r.Method == "PATCH" && r.Path.Value!.EndsWith("/" + ClusterId, StringComparison.Ordinal));
        var slow = h.ApplyAsync(h.Request(Spec, I1));
        await Conditions.UntilAsync(() => h.Api.Requests.Any(r => r.Method == "GET"), "the slow cluster's first call");

        var fast = await h.ApplyAsync(h.Request(Minimal, other + "-aaaaaaaa", clusterId: other)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ObservedPhase.Pending, fast.Phase);
        Assert.False(slow.IsCompleted);
        release.SetResult();
        Assert.Equal(ObservedPhase.Pending, (await slow.WaitAsync(TimeSpan.FromSeconds(10))).Phase);
    }

    [Fact]
    public async Task A_Redis_password_whose_key_is_gone_fails_the_cluster_with_what_to_do_and_creates_nothing()
    {
        await using var h = await ProviderHarness.StartAsync();
        var lostKey = new EphemeralDataProtectionProvider().CreateProtector(ClusterSecrets.RedisPasswordPurpose).Protect("pw");
        var spec = Minimal with { Head = Minimal.Head with { GftEnabled = true, GftConfig = new GftSettings("redis://redis:6379", "ray", lostKey) } };

        var observation = await h.ApplyAsync(h.Request(spec, I1));

        Assert.Equal(ObservedPhase.Failed, observation.Phase);
        Assert.Contains("cannot be decrypted", observation.Message, StringComparison.Ordinal);
        Assert.Contains("Update gftConfig.redisPassword", observation.Message, StringComparison.Ordinal);
        Assert.Null(h.Api.Get("rayclusters", h.Namespace(), ClusterId));
        Assert.Null(h.Api.Get("secrets", h.Namespace(), ClusterId + "-gcs-redis"));
    }

    [Fact]
    public async Task The_Redis_password_lives_in_a_Secret_and_never_in_a_RayCluster_a_request_to_it_or_a_log()
    {
        const string password = "s3cret-P@ssw0rd-xyzzy";
        await using var h = await ProviderHarness.StartAsync();
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(password));
        var spec = Minimal with
        {
            Head = Minimal.Head with
            {
                GftEnabled = true,
                GftConfig = new GftSettings("redis://redis:6379", "ray", h.Protection.CreateProtector(ClusterSecrets.RedisPasswordPurpose).Protect(password)),
            },
        };
        // A failing Secret write surfaces without the body that held the password, and nothing else is written.
        h.Api.Fail(r => r.Method == "PATCH" && r.Path.Value!.Contains("/secrets/", StringComparison.Ordinal), HttpStatusCode.InternalServerError, times: 5);
        var ex = await Assert.ThrowsAsync<KubernetesApiException>(() => h.ApplyAsync(h.Request(spec, I1)));
        Assert.Equal(HttpStatusCode.InternalServerError, ex.Status);
        var ns = h.Namespace();
        Assert.Null(h.Api.Get("rayclusters", ns, ClusterId));

        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(spec, I1), o => o.Phase == ObservedPhase.Ready);
        var secret = h.Api.Get("secrets", ns, ClusterId + "-gcs-redis")!;
        Assert.Equal(encoded, secret["data"]!["password"]!.GetValue<string>());
        var rayCluster = h.Api.Get("rayclusters", ns, ClusterId)!.ToJsonString();
        Assert.Contains("secretKeyRef", rayCluster, StringComparison.Ordinal);

        Assert.True(await WaitRemovedAsync(h, I1));
        foreach (var text in new[] { password, encoded })
        {
            Assert.DoesNotContain(text, rayCluster, StringComparison.Ordinal);
            Assert.DoesNotContain(h.Api.Requests, r => r.Path.Contains("/rayclusters", StringComparison.Ordinal) && r.Body.Contains(text, StringComparison.Ordinal));
            Assert.DoesNotContain(h.Logs.Lines, l => l.Contains(text, StringComparison.Ordinal));
            Assert.DoesNotContain(text, ex.ToString(), StringComparison.Ordinal);
        }
        Assert.Null(h.Api.Get("secrets", ns, ClusterId + "-gcs-redis"));
    }

    private static async Task<bool> WaitRemovedAsync(ProviderHarness h, string instance)
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await h.Provider.RemoveAsync(instance, CancellationToken.None))
        {
            if (DateTime.UtcNow > end) return false;
            await Conditions.NextChangeAsync(System.Threading.Channels.Channel.CreateUnbounded<string>().Reader, TimeSpan.FromMilliseconds(50));
        }
        return true;
    }

    [Fact]
    public async Task Pending_pods_and_warning_events_are_explained_in_the_message()
    {
        await using var h = await ProviderHarness.StartAsync();
        h.KubeRay.PodsBecomeReady = false;
        h.KubeRay.Auto = true;
        var ns = h.Namespace();
        await h.ApplyAsync(h.Request(Spec, I1));
        h.Api.AddEvent(ns, ClusterId, "FailedCreateWorkerPod", "pods \"w\" is forbidden: exceeded quota: compute");
        var pending = await h.ApplyUntilAsync(h.Request(Spec, I1),
            o => o.Nodes.Count == 4 && o.Message!.Contains("exceeded quota", StringComparison.Ordinal));
        Assert.Equal(ObservedPhase.Pending, pending.Phase);
        Assert.Contains("Insufficient nvidia.com/gpu", pending.Message, StringComparison.Ordinal);
        Assert.All(pending.Nodes, n => Assert.Equal("Pending", n.Phase));
        Assert.All(pending.Nodes, n => Assert.Equal("Unschedulable", n.Reason));
    }

    [Fact]
    public async Task The_autoscalers_wish_is_reported_and_held_to_what_admission_granted()
    {
        var spec = Spec with { Head = Spec.Head with { EnableAutoScaling = true, IdleTimeoutSeconds = 60 } };
        await using var h = await ProviderHarness.StartAsync();
        h.KubeRay.Auto = true;
        var granted = new Dictionary<string, int> { ["WorkerGroup1"] = 1, ["small"] = 1 };
        await h.ApplyUntilAsync(h.Request(spec, I1, granted), o => o.Phase == ObservedPhase.Ready);
        var ns = h.Namespace();

        // The Ray autoscaler asks for 4 workers in WorkerGroup1.
        h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["spec"]!["workerGroupSpecs"]![0]!["replicas"] = 4);
        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["spec"]?["workerGroupSpecs"]?[0]?["replicas"].AsInt() == 4, "the autoscaler's write in the cache");
        var observed = await h.ApplyAsync(h.Request(spec, I1, granted));
        Assert.Equal(4, observed.WantedReplicas["WorkerGroup1"]);
        Assert.Equal(1, h.Api.Get("rayclusters", ns, ClusterId)!["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());

        // Admission grants 3: the group may grow that far when the autoscaler asks again.
        h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["spec"]!["workerGroupSpecs"]![0]!["replicas"] = 4);
        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["spec"]?["workerGroupSpecs"]?[0]?["replicas"].AsInt() == 4, "the autoscaler's second write");
        await h.ApplyAsync(h.Request(spec, I1, new Dictionary<string, int> { ["WorkerGroup1"] = 3, ["small"] = 1 }));
        Assert.Equal(3, h.Api.Get("rayclusters", ns, ClusterId)!["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());

        // Scaling down is the autoscaler's own business: a smaller wish is left alone.
        h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["spec"]!["workerGroupSpecs"]![0]!["replicas"] = 2);
        await Conditions.UntilAsync(() => h.Provider.Cache.GetCluster(ns, ClusterId)?["spec"]?["workerGroupSpecs"]?[0]?["replicas"].AsInt() == 2, "the scale-down");
        var down = await h.ApplyAsync(h.Request(spec, I1, new Dictionary<string, int> { ["WorkerGroup1"] = 3, ["small"] = 1 }));
        Assert.Equal(2, down.WantedReplicas["WorkerGroup1"]);
        Assert.Equal(2, h.Api.Get("rayclusters", ns, ClusterId)!["spec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());
    }

    [Fact]
    public async Task Namespaces_follow_the_pattern_or_the_explicit_mapping_and_are_only_created_when_allowed()
    {
        await using var h = await ProviderHarness.StartAsync(o =>
        {
            o.NamespacePattern = "ray-{workspaceId}";
            o.Namespaces = new() { ["w-ffffffffffffffff"] = "team-a" };
            o.ExternalBaseUrl = "https://ray.example.com/{namespace}/{clusterId}/";
        });
        Assert.Equal("ray-" + WorkspaceId, h.Provider.NamespaceFor(WorkspaceId));
        Assert.Equal("team-a", h.Provider.NamespaceFor("w-ffffffffffffffff"));
        var observation = await h.ApplyAsync(h.Request(Minimal, I1));
        Assert.NotNull(h.Api.Get("namespaces", null, "ray-" + WorkspaceId));
        Assert.Equal($"https://ray.example.com/ray-{WorkspaceId}/{ClusterId}/", observation.Endpoints.DashboardUrl);
        Assert.Equal($"http://{ClusterId}-head-svc.ray-{WorkspaceId}.svc.cluster.local:8265", observation.Endpoints.JobUrlInner);

        await using var strict = await ProviderHarness.StartAsync(o => o.CreateNamespaces = false);
        var ex = await Assert.ThrowsAsync<KubernetesApiException>(() => strict.ApplyAsync(strict.Request(Minimal, I1)));
        Assert.Contains("CreateNamespaces", ex.Message, StringComparison.Ordinal);
        Assert.Empty(strict.Api.List("namespaces"));
    }

    [Fact]
    public async Task Per_namespace_watches_cover_the_namespaces_in_use()
    {
        await using var h = await ProviderHarness.StartAsync(o => o.WatchAllNamespaces = false);
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Ready);
        var watches = h.Api.Requests.Where(r => r.Query.Contains("watch=true", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(watches);
        Assert.All(watches, r => Assert.StartsWith($"/api", r.Path, StringComparison.Ordinal));
        Assert.All(watches, r => Assert.Contains($"/namespaces/{h.Namespace()}/", r.Path, StringComparison.Ordinal));
        Assert.Equal([I1], await h.Provider.ListInstancesAsync(null, CancellationToken.None));
        Assert.False(await h.Provider.RemoveAsync(I1, CancellationToken.None));
    }

    [Fact]
    public async Task Under_Kueue_suspend_is_left_to_the_queue_and_a_Start_makes_a_new_RayCluster()
    {
        await using var h = await ProviderHarness.StartAsync(o => o.KueueQueueLabel = true);
        var ns = h.Namespace();
        await h.ApplyAsync(h.Request(Spec, I1));
        Assert.DoesNotContain("\"suspend\"", h.Api.Requests.Single(IsRayClusterPatch).Body, StringComparison.Ordinal);
        Assert.Equal("root-queue", h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["labels"]!["kueue.x-k8s.io/queue-name"]!.GetValue<string>());

        // Kueue's webhook holds it until the queue admits it.
        h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["spec"]!["suspend"] = true);
        var held = await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Message!.Contains("Kueue", StringComparison.Ordinal));
        Assert.Contains("Suspended until Kueue admits it to queue root-queue", held.Message, StringComparison.Ordinal);
        Assert.False(h.Api.Get("rayclusters", ns, ClusterId)!["spec"]!["suspend"] is null);

        h.Api.Mutate("rayclusters", ns, ClusterId, rc => rc["spec"]!["suspend"] = false);
        h.KubeRay.Reconcile(ns, ClusterId);
        await h.ApplyUntilAsync(h.Request(Spec, I1), o => o.Phase == ObservedPhase.Ready);

        var uid = h.Api.Get("rayclusters", ns, ClusterId)!["metadata"]!["uid"]!.GetValue<string>();
        Assert.False(await h.Provider.StopAsync(I1, CancellationToken.None));
        h.KubeRay.Reconcile(ns, ClusterId);
        Assert.True(await h.Provider.StopAsync(I1, CancellationToken.None));
        await Conditions.UntilAsync(() => h.KubeRay.Pods(ns, ClusterId).Count == 0 && h.Provider.Cache.Pods(ns, ClusterId).Count == 0, "the pods gone from the cache");
        var started = await h.ApplyAsync(h.Request(Spec, I2));
        Assert.Equal(ObservedPhase.Pending, started.Phase);
        await h.ApplyUntilAsync(h.Request(Spec, I2), o => h.Api.Get("rayclusters", ns, ClusterId) is { } rc && rc["metadata"]!["uid"]!.GetValue<string>() != uid);
    }

    [Fact]
    public async Task A_cluster_KubeRay_would_refuse_is_an_error_before_anything_is_written()
    {
        await using var h = await ProviderHarness.StartAsync();
        var spec = Spec with { Head = Spec.Head with { Env = "RAY_enable_autoscaler_v2=1" } };
        var observation = await h.ApplyAsync(h.Request(spec, I1));
        Assert.Equal(ObservedPhase.Failed, observation.Phase);
        Assert.Contains("KubeRay would refuse this cluster", observation.Message, StringComparison.Ordinal);
        Assert.Contains("RAY_enable_autoscaler_v2", observation.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(h.Api.Requests, IsRayClusterPatch);
    }
}
