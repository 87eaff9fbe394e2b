using System.Text;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>Jobs through the provider, the real KubernetesClient and the fake API server playing KubeRay and Ray's dashboard.</summary>
[Collection(KubernetesCollection.Name)]
public sealed class RayJobProviderTests
{
    private const string I1 = ClusterId + "-job00001";
    private static readonly string Id = RayJobManifestTests.SubmissionId;

    private sealed class MemorySink : INodeLogSink
    {
        public Dictionary<string, string> Entries { get; } = new(StringComparer.Ordinal);

        public async Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken)
        {
            using var reader = new StreamReader(content, Encoding.UTF8);
            Entries[relativeName] = await reader.ReadToEndAsync(cancellationToken);
        }
    }

    private static ProviderClusterRequest JobRequest(ProviderHarness h, string mode, int? deadline = null) =>
        h.Request(TwoGroups, I1) with { Job = RayJobManifestTests.Job(mode, ttl: 0, deadline: deadline) };

    private static async Task<(ProviderHarness H, IRayJobApi Api, string ClusterName)> RunningJobAsync(string mode, int? deadline = null)
    {
        var h = await ProviderHarness.StartAsync();
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(JobRequest(h, mode, deadline), o => o.Phase == ObservedPhase.Ready);
        var api = await h.Provider.JobApiAsync(I1, CancellationToken.None);
        Assert.NotNull(api);
        var clusterName = h.Api.Get("rayjobs", h.Namespace(), ClusterId)!["status"]!["rayClusterName"]!.GetValue<string>();
        return (h, api, clusterName);
    }

    /// <summary>Probes until the answer satisfies <paramref name="until"/>, failing after a wall-clock deadline.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> until, string what)
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var idle = System.Threading.Channels.Channel.CreateUnbounded<string>();
        while (true)
        {
            var value = await probe();
            if (until(value)) return value;
            if (DateTime.UtcNow > end) throw new TimeoutException($"Timed out waiting for: {what}; last: {value}");
            await Conditions.NextChangeAsync(idle.Reader, TimeSpan.FromMilliseconds(20));
        }
    }

    /// <summary>KubeRay's next reconcile of the RayJob, then what the job API says, until it satisfies <paramref name="until"/>.</summary>
    private static async Task<RayJobDetails> GetAfterKubeRayAsync(ProviderHarness h, IRayJobApi api, Func<RayJobDetails, bool> until) =>
        (await EventuallyAsync(async () =>
        {
            h.KubeRay.ReconcileJob(h.Namespace(), ClusterId);
            return await api.GetAsync(Id, CancellationToken.None);
        }, d => d is not null && until(d), "the RayJob's status"))!;

    [Theory]
    [InlineData("HTTPMode")]
    [InlineData("K8sJobMode")]
    [InlineData("SidecarMode")]
    public async Task A_job_mode_cluster_is_a_RayJob_whose_job_runs_once_and_is_followed_to_SUCCEEDED(string mode)
    {
        var (h, api, clusterName) = await RunningJobAsync(mode);
        await using var owned = h;
        var ns = h.Namespace();

        var rayJob = h.Api.Get("rayjobs", ns, ClusterId)!;
        Assert.Equal((Id, mode), (rayJob["spec"]!["jobId"]!.GetValue<string>(), rayJob["spec"]!["submissionMode"]!.GetValue<string>()));
        Assert.Equal(I1, rayJob["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());
        // No RayCluster of Rayfleet's own: KubeRay's, named by the RayJob, owned by it, with its pods.
        Assert.Null(h.Api.Get("rayclusters", ns, ClusterId));
        Assert.StartsWith(ClusterId + "-", clusterName, StringComparison.Ordinal);
        Assert.Equal(4, h.KubeRay.Pods(ns, clusterName).Count);
        Assert.Contains(I1, await h.Provider.ListInstancesAsync(ClusterId, CancellationToken.None));

        var running = await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Running);
        Assert.Equal(Id, running.SubmissionId);
        // The RayJob carries the submission: Submit only says it happened, and Ray saw one submit.
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await api.SubmitAsync(RayJobManifestTests.Submission, CancellationToken.None));
        var dashboard = h.Api.Dashboard(ns, clusterName);
        Assert.Equal(1, dashboard.Submits);
        Assert.Equal("{\"pip\":[\"requests==2.26.0\"],\"env_vars\":{\"KEY\":\"VALUE\"}}", dashboard.Get(Id)!.Body["runtime_env"]!.ToJsonString());

        dashboard.Finish(Id, RayJobStatus.Succeeded, log: "hello ray job\n");
        var done = await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Succeeded);
        Assert.NotNull(done.EndTime);
        Assert.Contains("hello ray job", await api.LogsAsync(Id, CancellationToken.None), StringComparison.Ordinal);
        Assert.Equal(1, dashboard.Submits);
    }

    [Fact]
    public async Task In_K8sJobMode_the_driver_log_is_the_submitter_pods_and_a_failed_job_reads_FAILED()
    {
        var (h, api, clusterName) = await RunningJobAsync("K8sJobMode");
        await using var owned = h;
        h.Api.Dashboard(h.Namespace(), clusterName).Finish(Id, RayJobStatus.Failed, log: "Traceback: boom\n");
        var failed = await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Failed);
        Assert.Null(failed.ErrorType);

        var log = await api.LogsAsync(Id, CancellationToken.None);
        Assert.Contains("Waiting for Ray Dashboard GCS", log, StringComparison.Ordinal);
        Assert.Contains("Traceback: boom", log, StringComparison.Ordinal);
        Assert.Contains(h.Api.Requests, r => r.Path.EndsWith("/log", StringComparison.Ordinal) && r.Query.Contains("container=ray-job-submitter", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Stop_goes_to_the_head_through_the_service_proxy_and_the_job_ends_STOPPED()
    {
        var (h, api, clusterName) = await RunningJobAsync("HTTPMode");
        await using var owned = h;
        await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Running);

        Assert.True(await api.StopAsync(Id, CancellationToken.None));
        Assert.Contains(h.Api.Requests, r => r.Method == "POST"
            && r.Path == $"/api/v1/namespaces/{h.Namespace()}/services/{clusterName}-head-svc:dashboard/proxy/api/jobs/{Id}/stop");
        await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Stopped);
        Assert.False(await api.StopAsync(Id, CancellationToken.None));
    }

    [Fact]
    public async Task Before_KubeRay_reached_Ray_the_job_is_PENDING_and_cannot_be_stopped_there()
    {
        await using var h = await ProviderHarness.StartAsync();
        h.KubeRay.Auto = true;
        h.KubeRay.PodsBecomeReady = false;
        var observation = await h.ApplyAsync(JobRequest(h, "HTTPMode"));
        Assert.Equal(ObservedPhase.Pending, observation.Phase);
        var api = await h.Provider.JobApiAsync(I1, CancellationToken.None);
        Assert.NotNull(api);
        Assert.Equal(RayJobStatus.Pending, (await api.GetAsync(Id, CancellationToken.None))!.Status);
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(RayJobManifestTests.Submission, CancellationToken.None));
        Assert.False(await api.StopAsync(Id, CancellationToken.None));
        Assert.Null(await api.GetAsync("rj-someoneelse00000", CancellationToken.None));
    }

    [Fact]
    public async Task Past_its_active_deadline_the_job_reads_FAILED_with_DeadlineExceeded_and_stop_still_reaches_Ray()
    {
        var (h, api, clusterName) = await RunningJobAsync("HTTPMode", deadline: 60);
        await using var owned = h;
        await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Running);

        h.KubeRay.JobClockAhead = TimeSpan.FromSeconds(61);
        var timedOut = await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Failed);
        Assert.Equal("DeadlineExceeded", timedOut.ErrorType);
        // KubeRay leaves the Ray job running at its deadline: Rayfleet's stop ends it.
        Assert.Equal(RayJobStatus.Running, h.Api.Dashboard(h.Namespace(), clusterName).Get(Id)!.Status);
        Assert.True(await api.StopAsync(Id, CancellationToken.None));
        Assert.Equal(RayJobStatus.Stopped, h.Api.Dashboard(h.Namespace(), clusterName).Get(Id)!.Status);
    }

    [Fact]
    public async Task Removing_a_job_mode_cluster_deletes_its_RayJob_and_leaves_nothing_behind()
    {
        var (h, api, clusterName) = await RunningJobAsync("K8sJobMode");
        await using var owned = h;
        var ns = h.Namespace();
        await GetAfterKubeRayAsync(h, api, d => d.Status == RayJobStatus.Running);
        Assert.Contains(h.Api.List("pods", ns), p => FakeKubeRay.Label(p, "job-name") == ClusterId);

        await EventuallyAsync(() => h.Provider.RemoveAsync(I1, CancellationToken.None), gone => gone, "the instance removed");
        Assert.Empty(h.Api.List("rayjobs", ns));
        Assert.Empty(h.Api.List("rayclusters", ns));
        Assert.Empty(h.Api.List("pods", ns));
        Assert.Contains(h.Api.Requests, r => r.Method == "DELETE" && r.Path.EndsWith($"/rayjobs/{ClusterId}", StringComparison.Ordinal) && r.Body.Contains("Foreground", StringComparison.Ordinal));
        // KubeRay's finalizer stopped the job that had not finished.
        Assert.Equal(RayJobStatus.Stopped, h.Api.Dashboard(ns, clusterName).Get(Id)!.Status);
        await EventuallyAsync(() => h.Provider.ListInstancesAsync(null, CancellationToken.None), l => !l.Contains(I1), "the instance no longer listed");
        Assert.Null(await h.Provider.JobApiAsync(I1, CancellationToken.None));
    }

    [Fact]
    public async Task The_watch_follows_RayJobs_and_a_Stop_of_a_job_mode_cluster_deletes_its_RayJob()
    {
        var (h, _, clusterName) = await RunningJobAsync("HTTPMode");
        await using var owned = h;
        var ns = h.Namespace();
        await Conditions.UntilAsync(() => h.Provider.Cache.GetJob(ns, ClusterId) is not null && h.Provider.Cache.AllSynced, "the RayJob in the cache");
        // A RayJob with Rayfleet's labels and no RayCluster yet is an instance too (an orphan the resync removes).
        h.KubeRay.Auto = false;
        h.Api.Put("rayjobs", new System.Text.Json.Nodes.JsonObject
        {
            ["apiVersion"] = "ray.io/v1", ["kind"] = "RayJob",
            ["metadata"] = new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = "ray-orphan0000000000", ["namespace"] = ns,
                ["labels"] = new System.Text.Json.Nodes.JsonObject { ["rayfleet.io/cluster-id"] = "ray-orphan0000000000", ["rayfleet.io/instance-id"] = "ray-orphan0000000000-x" },
            },
            ["spec"] = new System.Text.Json.Nodes.JsonObject { ["entrypoint"] = "true" },
        });
        await EventuallyAsync(() => h.Provider.ListInstancesAsync(null, CancellationToken.None), l => l.Contains("ray-orphan0000000000-x") && l.Contains(I1), "both instances listed");

        h.KubeRay.Auto = true;
        Assert.False(await h.Provider.StopAsync(I1, CancellationToken.None));
        await EventuallyAsync(() => h.Provider.StopAsync(I1, CancellationToken.None), stopped => stopped, "the job-mode cluster stopped");
        Assert.Null(h.Api.Get("rayjobs", ns, ClusterId));
        Assert.Null(h.Api.Get("rayclusters", ns, clusterName));
        Assert.NotNull(h.Api.Get("rayjobs", ns, "ray-orphan0000000000"));
    }

    [Fact]
    public async Task A_job_on_an_existing_cluster_goes_to_its_head_service_through_the_API_servers_proxy()
    {
        await using var h = await ProviderHarness.StartAsync();
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(TwoGroups, I1), o => o.Phase == ObservedPhase.Ready);
        var ns = h.Namespace();
        var api = await h.Provider.JobApiAsync(I1, CancellationToken.None);
        Assert.NotNull(api);
        var dashboard = h.Api.Dashboard(ns, ClusterId);

        dashboard.AgentReady = false;
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(RayJobManifestTests.Submission, CancellationToken.None));
        dashboard.AgentReady = true;
        Assert.Equal(RaySubmitOutcome.Submitted, await api.SubmitAsync(RayJobManifestTests.Submission, CancellationToken.None));
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await api.SubmitAsync(RayJobManifestTests.Submission, CancellationToken.None));
        Assert.Single(dashboard.Jobs);
        Assert.Contains(h.Api.Requests, r => r.Method == "POST" && r.Path == $"/api/v1/namespaces/{ns}/services/{ClusterId}-head-svc:dashboard/proxy/api/jobs/");
        var sent = dashboard.Get(Id)!.Body;
        Assert.Equal(1.5, sent["entrypoint_num_cpus"]!.GetValue<double>());
        Assert.Equal("{\"fpu\":1}", sent["entrypoint_resources"]!.ToJsonString());

        Assert.Equal(RayJobStatus.Running, (await api.GetAsync(Id, CancellationToken.None))!.Status);
        Assert.Null(await api.GetAsync("rj-unknown00000000", CancellationToken.None));
        Assert.Equal("", await api.LogsAsync("rj-unknown00000000", CancellationToken.None));
        dashboard.Finish(Id, RayJobStatus.Failed, log: "exit 3\n");
        var failed = (await api.GetAsync(Id, CancellationToken.None))!;
        Assert.Equal((RayJobStatus.Failed, 3), (failed.Status, failed.DriverExitCode));
        Assert.Contains("exit 3", await api.LogsAsync(Id, CancellationToken.None), StringComparison.Ordinal);
        Assert.Single(await api.ListAsync(CancellationToken.None));

        // The head gone (its pod not ready): the proxy answers 503 for want of endpoints, a head that cannot take a job.
        h.KubeRay.CrashHead(ns, ClusterId);
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(RayJobManifestTests.Submission with { SubmissionId = "rj-second000000000" }, CancellationToken.None));
        await Assert.ThrowsAsync<RayJobApiException>(() => api.GetAsync(Id, CancellationToken.None));
    }

    [Fact]
    public async Task With_cluster_DNS_access_the_dashboard_is_the_head_services_DNS_name()
    {
        await using var h = await ProviderHarness.StartAsync(o => o.DashboardAccess = DashboardAccess.ClusterDns);
        Assert.Equal(new Uri($"http://{ClusterId}-head-svc.ns-a.svc.cluster.local:8265/"), h.Provider.Dashboard("ns-a", ClusterId + "-head-svc").Dashboard);
        await using var proxied = await ProviderHarness.StartAsync();
        Assert.Equal(new Uri($"{proxied.Api.Url}/api/v1/namespaces/ns-a/services/{ClusterId}-head-svc:dashboard/proxy/"), proxied.Provider.Dashboard("ns-a", ClusterId + "-head-svc").Dashboard);
    }

    [Fact]
    public async Task Node_logs_are_copied_one_entry_per_pod_bounded_by_tail_lines_and_bytes()
    {
        await using var h = await ProviderHarness.StartAsync(o =>
        {
            o.NodeLogTailLines = 3;
            o.NodeLogLimitBytes = 40;
        });
        h.KubeRay.Auto = true;
        await h.ApplyUntilAsync(h.Request(TwoGroups, I1), o => o.Phase == ObservedPhase.Ready);
        var ns = h.Namespace();
        var pods = h.KubeRay.Pods(ns, ClusterId);
        var head = h.KubeRay.HeadPod(ns, ClusterId);
        var worker = pods.First(p => FakeKubeRay.Label(p, "ray.io/node-type") == "worker");
        h.Api.SetPodLog(ns, FakeKubeRay.PodName(head), string.Concat(Enumerable.Range(1, 10).Select(i => $"line {i:D2}\n")));
        h.Api.SetPodLog(ns, FakeKubeRay.PodName(worker), new string('x', 100) + "\n");

        var sink = new MemorySink();
        await h.Provider.CollectNodeLogsAsync(I1, sink, CancellationToken.None);

        Assert.Equal(pods.Count, sink.Entries.Count);
        Assert.Equal("line 08\nline 09\nline 10\n", sink.Entries[$"head/{FakeKubeRay.PodName(head)}.log"]);
        Assert.Equal(new string('x', 40), sink.Entries[$"worker/{FakeKubeRay.PodName(worker)}.log"]);
        Assert.All(h.Api.Requests.Where(r => r.Path.EndsWith("/log", StringComparison.Ordinal)),
            r => Assert.Matches("container=ray-(head|worker)", r.Query));

        // A job-mode cluster's submitter pod (K8sJobMode) is copied too.
        await using var j = await ProviderHarness.StartAsync();
        j.KubeRay.Auto = true;
        await j.ApplyUntilAsync(JobRequest(j, "K8sJobMode"), o => o.Phase == ObservedPhase.Ready);
        var jobSink = new MemorySink();
        await j.Provider.CollectNodeLogsAsync(I1, jobSink, CancellationToken.None);
        Assert.Equal(5, jobSink.Entries.Count);
        Assert.Single(jobSink.Entries.Keys, k => k.StartsWith("submitter/" + ClusterId + "-", StringComparison.Ordinal));
    }
}
