using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Ray jobs through the whole service in a kubernetes workspace: the signed API, the job and cluster passes, the
/// provider and the real KubernetesClient, against the fake API server with KubeRay's RayJob controller
/// (<see cref="FakeKubeRay.ReconcileJob"/>, run as KubeRay's next reconcile before each look) and Ray's dashboard
/// behind the service proxy.
/// </summary>
[Collection(KubernetesCollection.Name)]
public sealed class KubernetesJobServiceTests
{
    private static Dictionary<string, string?> Settings(FakeKubeApiServer api) => new()
    {
        ["Rayfleet:Kubernetes:Host"] = api.Url,
        ["Rayfleet:Kubernetes:RetryBaseDelay"] = "00:00:00.010",
        ["Rayfleet:Kubernetes:RetryMaxDelay"] = "00:00:00.200",
    };

    private sealed class Service(FakeKubeApiServer kube, RayfleetHost host, ApiClient api, string ws) : IAsyncDisposable
    {
        public FakeKubeApiServer Kube { get; } = kube;
        public RayfleetHost Host { get; } = host;
        public ApiClient Api { get; } = api;
        public string Ws { get; } = ws;
        public string Ns => "rayfleet-" + Ws;

        public async ValueTask DisposeAsync()
        {
            Host.Dispose();
            await Kube.DisposeAsync();
        }
    }

    private static async Task<Service> StartAsync()
    {
        var kube = await FakeKubeApiServer.StartAsync();
        kube.KubeRay.Auto = true;
        var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes", "64");
        return new Service(kube, host, api, ws);
    }

    private static object JobModeBody(string mode, string entrypoint = "python main.py", int ttl = 180, int? deadline = 3600) => new
    {
        name = "k8s-job",
        entrypoint,
        submissionMode = mode,
        ttlSecondsAfterFinished = ttl,
        activeDeadlineSeconds = deadline,
        runtimeEnvJson = "{\"env_vars\":{\"KEY\":\"VALUE\"}}",
        entrypointNumCpus = "0.5",
        headSpec = new { cpu = "1", memory = "4Gi" },
        workerSpec = new object[] { new { groupName = "g1", replica = 1, cpu = "1", memory = "4Gi" } },
    };

    private static async Task<string> SubmitAsync(Service s, object body)
    {
        var r = (await s.Api.PostAsync($"/api/v1/workspaces/{s.Ws}/rayJob", body)).EnsureOk();
        return r.Json["submissionId"]!.GetValue<string>();
    }

    private static async Task<JsonNode> GetJobAsync(Service s, string id) =>
        (await s.Api.GetAsync($"/api/v1/workspaces/{s.Ws}/rayJob/{id}")).EnsureOk().Json;

    /// <summary>
    /// Moves the fake clock until the job satisfies <paramref name="until"/>; with <paramref name="rayJob"/>, KubeRay
    /// reconciles that RayJob before each look, as its controller would on its own.
    /// </summary>
    private static async Task<JsonNode> WaitForJobAsync(Service s, string id, Func<JsonNode, bool> until, string? rayJob = null, TimeSpan? step = null)
    {
        JsonNode last = await GetJobAsync(s, id);
        try
        {
            await Eventually.HoldsAsync(s.Host, async () =>
            {
                if (rayJob is not null) s.Kube.KubeRay.ReconcileJob(s.Ns, rayJob);
                last = await GetJobAsync(s, id);
                return until(last);
            }, step);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"The job did not get there in time; last seen: {last.ToJsonString()}", e);
        }
        return last;
    }

    private static Func<JsonNode, bool> Status(string status) => j => j["status"]!.GetValue<string>() == status;

    /// <summary>ListRayLogs of the job, every file, as paths relative to the job's folder.</summary>
    private static async Task<List<string>> LogFilesAsync(Service s, string id)
    {
        var data = (await s.Api.GetAsync($"/api/interactive/v1/workspace/{s.Ws}/ray/{id}/logs?maxKeys=999")).EnsureOk().Json["data"]!;
        var prefix = data["prefix"]!.GetValue<string>();
        return [.. data["objectList"]!.AsArray().Select(o => o!["path"]!.GetValue<string>()).Select(p => p.StartsWith(prefix, StringComparison.Ordinal) ? p[prefix.Length..] : p)];
    }

    private static string DriverLog(Service s, string id) =>
        File.ReadAllText(Path.Combine(s.Host.DataDirectory, "logs", s.Ws, "ray", "logs", id, id + "_driver.log"));

    /// <summary>The last RayJob body Rayfleet applied (server-side apply), as the API server received it.</summary>
    private static JsonObject AppliedRayJob(Service s, string name) =>
        JsonNode.Parse(s.Kube.Requests.Last(r => r.Method == "PATCH" && r.Path.EndsWith($"/rayjobs/{name}", StringComparison.Ordinal)).Body)!.AsObject();

    private static string RayClusterOf(Service s, string rayJob) =>
        s.Kube.Get("rayjobs", s.Ns, rayJob)!["status"]!["rayClusterName"]!.GetValue<string>();

    [Theory]
    [InlineData("HTTPMode")]
    [InlineData("K8sJobMode")]
    [InlineData("SidecarMode")]
    public async Task A_job_mode_job_is_a_RayJob_that_KubeRay_runs_to_Succeeded_its_logs_are_kept_and_its_RayJob_goes_after_the_ttl(string mode)
    {
        await using var s = await StartAsync();
        var id = await SubmitAsync(s, JobModeBody(mode));
        var submitted = await GetJobAsync(s, id);
        Assert.Contains(submitted["status"]!.GetValue<string>(), new[] { "Submitted", "Pending" });
        var clusterId = submitted["clusterId"]!.GetValue<string>();

        var running = await WaitForJobAsync(s, id, Status("Running"), rayJob: clusterId);
        Assert.Equal("Running", running["clusterState"]!.GetValue<string>());
        Assert.NotNull(running["startTime"]);
        Assert.Equal(mode, running["submissionMode"]!.GetValue<string>());

        // The RayJob as applied: valid against KubeRay's CRD, carrying the job under its submission id.
        var applied = AppliedRayJob(s, clusterId);
        Assert.Equal([], CrdSchema.RayJobV1.Validate(applied));
        var spec = applied["spec"]!;
        Assert.Equal(id, spec["jobId"]!.GetValue<string>());
        Assert.Equal("python main.py", spec["entrypoint"]!.GetValue<string>());
        Assert.Equal(mode, spec["submissionMode"]!.GetValue<string>());
        Assert.True(spec["shutdownAfterJobFinishes"]!.GetValue<bool>());
        Assert.Equal(180, spec["ttlSecondsAfterFinished"]!.GetValue<int>());
        Assert.Equal(3600, spec["activeDeadlineSeconds"]!.GetValue<int>());
        Assert.Equal(0.5, spec["entrypointNumCpus"]!.GetValue<double>());
        Assert.Equal("{\"env_vars\":{\"KEY\":\"VALUE\"}}", spec["runtimeEnvYAML"]!.GetValue<string>());
        var head = spec["rayClusterSpec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!;
        Assert.Equal("4Gi", head["resources"]!["limits"]!["memory"]!.GetValue<string>());
        Assert.Equal(1, spec["rayClusterSpec"]!["workerGroupSpecs"]![0]!["replicas"]!.GetValue<int>());
        Assert.Null(s.Kube.Get("rayclusters", s.Ns, clusterId)); // no RayCluster of Rayfleet's own: KubeRay's
        Assert.Equal(id, s.Kube.Get("rayjobs", s.Ns, clusterId)!["status"]!["jobId"]!.GetValue<string>());

        // Ray ran the job once, whichever submitter KubeRay used (a repeated submit of the same id is refused), with
        // what the job asked for.
        var rayCluster = RayClusterOf(s, clusterId);
        var dashboard = s.Kube.Dashboard(s.Ns, rayCluster);
        Assert.Equal(1, dashboard.Accepted);
        Assert.Equal("{\"env_vars\":{\"KEY\":\"VALUE\"}}", dashboard.Get(id)!.Body["runtime_env"]!.ToJsonString());

        dashboard.Finish(id, RayJobStatus.Succeeded, log: "hello from the driver\n");
        var done = await WaitForJobAsync(s, id, Status("Succeeded"), rayJob: clusterId);
        Assert.NotNull(done["endTime"]);
        Assert.Equal("Running", done["clusterState"]!.GetValue<string>()); // the TTL has not passed
        Assert.Contains("hello from the driver", DriverLog(s, id), StringComparison.Ordinal);
        if (mode == "K8sJobMode") Assert.Contains("Waiting for Ray Dashboard GCS", DriverLog(s, id), StringComparison.Ordinal);
        Assert.Contains(id + "_driver.log", await LogFilesAsync(s, id));
        var pods = s.Kube.KubeRay.Pods(s.Ns, rayCluster).Select(FakeKubeRay.PodName).ToList();
        Assert.Equal(2, pods.Count);

        // 180 s after the end (Rayfleet's clock) the cluster goes: node logs first, then the RayJob and all it made.
        await WaitForJobAsync(s, id, j => j["clusterState"]!.GetValue<string>() == "Deleted", rayJob: clusterId, step: TimeSpan.FromSeconds(20));
        var files = await LogFilesAsync(s, id);
        Assert.Contains($"nodes/head/{pods.Single(p => p.Contains("-head-", StringComparison.Ordinal))}.log", files);
        Assert.Contains($"nodes/worker/{pods.Single(p => p.Contains("-worker-", StringComparison.Ordinal))}.log", files);
        if (mode == "K8sJobMode") Assert.Contains(files, f => f.StartsWith($"nodes/submitter/{clusterId}-", StringComparison.Ordinal));
        await Eventually.HoldsAsync(s.Host, async () => !await s.Host.Services.ClusterRowExistsAsync(clusterId));
        Assert.Contains(s.Kube.Requests, r => r.Method == "DELETE" && r.Path.EndsWith($"/rayjobs/{clusterId}", StringComparison.Ordinal));
        Assert.Empty(s.Kube.List("rayjobs", s.Ns));
        Assert.Empty(s.Kube.List("rayclusters", s.Ns));
        Assert.Empty(s.Kube.List("pods", s.Ns));
        Assert.Empty(s.Kube.List("secrets", s.Ns));

        var after = await GetJobAsync(s, id);
        Assert.Equal(("Succeeded", "Deleted"), (after["status"]!.GetValue<string>(), after["clusterState"]!.GetValue<string>()));
        Assert.Equal(1, dashboard.Accepted);
        Assert.False(dashboard.Get(id)!.StopRequested);
    }

    [Fact]
    public async Task A_job_Ray_reports_FAILED_ends_Failed_with_Rays_message()
    {
        await using var s = await StartAsync();
        var id = await SubmitAsync(s, JobModeBody("HTTPMode", "exit 3"));
        var clusterId = (await WaitForJobAsync(s, id, Status("Running"), rayJob: (await GetJobAsync(s, id))["clusterId"]!.GetValue<string>()))["clusterId"]!.GetValue<string>();

        s.Kube.Dashboard(s.Ns, RayClusterOf(s, clusterId)).Finish(id, RayJobStatus.Failed, log: "Traceback: boom\n");
        var failed = await WaitForJobAsync(s, id, Status("Failed"), rayJob: clusterId);
        Assert.Contains("exit code 3", failed["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(failed["endTime"]);
        Assert.Contains("Traceback: boom", DriverLog(s, id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_stops_the_job_at_the_heads_dashboard_through_the_service_proxy_and_it_ends_Cancelled()
    {
        await using var s = await StartAsync();
        var id = await SubmitAsync(s, JobModeBody("HTTPMode", "sleep 600"));
        var clusterId = (await GetJobAsync(s, id))["clusterId"]!.GetValue<string>();
        await WaitForJobAsync(s, id, Status("Running"), rayJob: clusterId);
        var rayCluster = RayClusterOf(s, clusterId);

        Assert.True((await s.Api.PostAsync($"/api/v1/workspaces/{s.Ws}/rayJob/{id}/cancel")).EnsureOk().Json["success"]!.GetValue<bool>());
        var cancelled = await WaitForJobAsync(s, id, Status("Cancelled"), rayJob: clusterId);
        Assert.Equal("The job was cancelled.", cancelled["message"]!.GetValue<string>());
        Assert.Contains(s.Kube.Requests, r => r.Method == "POST"
            && r.Path == $"/api/v1/namespaces/{s.Ns}/services/{rayCluster}-head-svc:dashboard/proxy/api/jobs/{id}/stop" && r.Status == 200);
        Assert.Equal(RayJobStatus.Stopped, s.Kube.Dashboard(s.Ns, rayCluster).Get(id)!.Status);
        Assert.Equal(RayJobStatus.Stopped, s.Kube.Get("rayjobs", s.Ns, clusterId)!["status"]!["jobStatus"]!.GetValue<string>());
    }

    // KubeRay submits a RayJob's entrypoint on its own once its cluster is ready: a RayJob left standing for the TTL after
    // a cancel that came before would run the cancelled job.
    [Fact]
    public async Task A_job_mode_job_cancelled_before_KubeRay_reached_Ray_never_runs_and_its_RayJob_goes_at_once()
    {
        await using var s = await StartAsync();
        s.Kube.KubeRay.PodsBecomeReady = false;
        var id = await SubmitAsync(s, JobModeBody("HTTPMode", "sleep 600"));
        var clusterId = (await GetJobAsync(s, id))["clusterId"]!.GetValue<string>();
        await WaitForJobAsync(s, id, j => Status("Pending")(j) && s.Kube.Get("rayjobs", s.Ns, clusterId)?["status"]?["rayClusterName"] is not null, rayJob: clusterId);
        var rayCluster = RayClusterOf(s, clusterId);

        (await s.Api.PostAsync($"/api/v1/workspaces/{s.Ws}/rayJob/{id}/cancel")).EnsureOk();
        var cancelled = await WaitForJobAsync(s, id, Status("Cancelled"), rayJob: clusterId);
        Assert.Null(cancelled["startTime"]);

        // The RayJob goes at once, well inside the job's 180 s TTL (the clock moves 1 s a look, a few looks at most)...
        await WaitForJobAsync(s, id, j => j["clusterState"]!.GetValue<string>() == "Deleted" && s.Kube.List("rayjobs", s.Ns).Count == 0,
            rayJob: clusterId, step: TimeSpan.FromSeconds(1));
        // ...so when the scheduler finds room a moment later, there is no RayJob left for KubeRay to submit.
        s.Kube.KubeRay.PodsBecomeReady = true;
        foreach (var pod in s.Kube.KubeRay.Pods(s.Ns, rayCluster)) s.Kube.Remove("pods", s.Ns, FakeKubeRay.PodName(pod));
        s.Kube.KubeRay.Reconcile(s.Ns, rayCluster);
        Assert.Equal(0, s.Kube.Dashboard(s.Ns, rayCluster).Submits);
        Assert.Empty(s.Kube.List("rayclusters", s.Ns));
        Assert.Equal("Cancelled", (await GetJobAsync(s, id))["status"]!.GetValue<string>());
    }

    // KubeRay's deadline runs on its own clock: here it passes while Rayfleet's own (from submission) has not, so the
    // Timeout can only come from the RayJob's DeadlineExceeded.
    [Fact]
    public async Task KubeRays_DeadlineExceeded_ends_the_job_Timeout_and_Rays_job_is_stopped()
    {
        await using var s = await StartAsync();
        var id = await SubmitAsync(s, JobModeBody("HTTPMode", "sleep 6000", deadline: 600));
        var clusterId = (await GetJobAsync(s, id))["clusterId"]!.GetValue<string>();
        await WaitForJobAsync(s, id, Status("Running"), rayJob: clusterId);
        var dashboard = s.Kube.Dashboard(s.Ns, RayClusterOf(s, clusterId));

        s.Kube.KubeRay.JobClockAhead = TimeSpan.FromSeconds(601);
        var timedOut = await WaitForJobAsync(s, id, Status("Timeout"), rayJob: clusterId);
        Assert.Equal("DeadlineExceeded", s.Kube.Get("rayjobs", s.Ns, clusterId)!["status"]!["reason"]!.GetValue<string>());
        Assert.Contains("activeDeadlineSeconds", timedOut["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.NotNull(timedOut["endTime"]);
        // KubeRay leaves Ray's job running at its deadline; Rayfleet stopped it.
        Assert.True(dashboard.Get(id)!.StopRequested);
        Assert.Equal(RayJobStatus.Stopped, dashboard.Get(id)!.Status);
    }

    [Fact]
    public async Task A_job_on_an_existing_RayCluster_goes_to_its_heads_dashboard_through_the_service_proxy_and_the_cluster_stays()
    {
        await using var s = await StartAsync();
        var clusterId = await s.Api.CreateClusterAsync(s.Ws, new { name = "shared", headSpec = new { cpu = "1", memory = "4Gi" } });
        await s.Api.WaitForClusterAsync(s.Ws, clusterId, InState("Running"));
        var dashboard = s.Kube.Dashboard(s.Ns, clusterId);

        // An entrypointMemory that no RayJob can carry is fine here: Ray's own Job API takes it.
        var id = await SubmitAsync(s, new { entrypoint = "python shared.py", clusterId, entrypointMemory = "1073741824" });
        var running = await WaitForJobAsync(s, id, Status("Running"));
        Assert.Equal(clusterId, running["clusterId"]!.GetValue<string>());
        Assert.Contains(s.Kube.Requests, r => r.Method == "POST" && r.Path == $"/api/v1/namespaces/{s.Ns}/services/{clusterId}-head-svc:dashboard/proxy/api/jobs/");
        var sent = dashboard.Get(id)!.Body;
        Assert.Equal(("python shared.py", id), (sent["entrypoint"]!.GetValue<string>(), sent["submission_id"]!.GetValue<string>()));
        Assert.Empty(s.Kube.List("rayjobs", s.Ns));

        dashboard.Finish(id, RayJobStatus.Succeeded, log: "shared says hi\n");
        var done = await WaitForJobAsync(s, id, Status("Succeeded"));
        Assert.Contains("shared says hi", DriverLog(s, id), StringComparison.Ordinal);
        Assert.Contains(id + "_driver.log", await LogFilesAsync(s, id));
        Assert.Equal(1, dashboard.Accepted);

        s.Host.Clock.Advance(TimeSpan.FromMinutes(10));
        await s.Api.WaitForQuietAsync();
        Assert.Equal("Running", (await s.Api.GetClusterAsync(s.Ws, clusterId))["state"]!.GetValue<string>());
        Assert.NotNull(s.Kube.Get("rayclusters", s.Ns, clusterId));
        Assert.Equal("Running", done["clusterState"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("submissionMode", "{\"submissionMode\":\"InteractiveMode\"}")]
    [InlineData("entrypointMemory", "{\"entrypointMemory\":\"1073741824\"}")]
    [InlineData("entrypointResources", "{\"entrypointResources\":\"{\\\"fpu\\\":\\\"one\\\"}\"}")]
    [InlineData("ttlSecondsAfterFinished", "{\"shutdownAfterJobFinishes\":false,\"ttlSecondsAfterFinished\":60}")]
    [InlineData("activeDeadlineSeconds", "{\"activeDeadlineSeconds\":0}")]
    public async Task What_KubeRay_would_refuse_in_a_RayJob_is_refused_at_submit_naming_the_field(string field, string extra)
    {
        await using var s = await StartAsync();
        var body = JsonNode.Parse("{\"entrypoint\":\"python main.py\",\"headSpec\":{\"cpu\":\"1\",\"memory\":\"4Gi\"}}")!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(extra)!.AsObject().ToList()) body[key] = value?.DeepClone();

        var refused = await s.Api.PostAsync($"/api/v1/workspaces/{s.Ws}/rayJob", body.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("InvalidParameter", refused.Code);
        Assert.Contains(field, refused.Message, StringComparison.Ordinal);
        Assert.NotNull(refused.Json["RequestId"]);
        Assert.Equal(0, (await s.Api.GetAsync($"/api/v1/workspaces/{s.Ws}/rayJob")).EnsureOk().Json["totalCount"]!.GetValue<int>());
        await s.Api.WaitForQuietAsync();
        Assert.DoesNotContain(s.Kube.Requests, r => r.Path.Contains("/rayjobs", StringComparison.Ordinal) && r.Method != "GET");
    }
}
