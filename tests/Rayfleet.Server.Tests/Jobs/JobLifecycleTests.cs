using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Simulated;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>
/// A job's life through the API and the reconciler on a fake clock, with a head whose Job API the test drives
/// (<see cref="FakeRayHeads"/>): when it is submitted, how Ray's statuses become EMR's, cancel, deadline, the TTL of a
/// job-mode cluster, and a submit that is never repeated.
/// </summary>
public sealed class JobLifecycleTests : IDisposable
{
    private readonly RayfleetHost _host;
    private FakeRayHeads? _heads;

    /// <summary>The log store, except that while armed every write fails as on a full disk.</summary>
    private sealed class FullDisk(LogStore inner) : IJobLogWriter
    {
        public volatile bool Armed;
        public int Refused;

        public Task WriteDriverLogAsync(string workspaceId, string submissionId, string text, CancellationToken cancellationToken)
        {
            if (!Armed) return inner.WriteDriverLogAsync(workspaceId, submissionId, text, cancellationToken);
            Interlocked.Increment(ref Refused);
            throw new LogStoreException(LogStoreFailure.DiskFull, "No space left on device");
        }

        public INodeLogSink NodeLogs(string workspaceId, string submissionId) => ((IJobLogWriter)inner).NodeLogs(workspaceId, submissionId);
    }

    public JobLifecycleTests()
    {
        _host = new RayfleetHost(
            settings: new Dictionary<string, string?> { ["Rayfleet:DefaultQueueCu"] = "8" },
            services: s =>
            {
                s.RemoveAll<IClusterProvider>();
                s.AddSingleton<SimulatedProvider>();
                s.AddSingleton<IClusterProvider>(sp => _heads = new FakeRayHeads(sp.GetRequiredService<SimulatedProvider>()));
                s.RemoveAll<IJobLogWriter>();
                s.AddSingleton<IJobLogWriter>(sp => new FullDisk(sp.GetRequiredService<LogStore>()));
            });
    }

    public void Dispose() => _host.Dispose();

    private FakeRayHeads Heads => _heads ?? throw new InvalidOperationException("The host has not started.");

    private static object JobModeBody(string entrypoint = "python main.py", int? ttl = 60, int? deadline = null) => new
    {
        name = "my-job",
        entrypoint,
        activeDeadlineSeconds = deadline,
        ttlSecondsAfterFinished = ttl,
        headSpec = new { cpu = "1", memory = "4Gi" },
        workerSpec = new object[] { new { groupName = "g1", replica = 1, cpu = "1", memory = "4Gi" } },
    };

    private async Task<(ApiClient Api, string Ws)> StartAsync()
    {
        var api = _host.Api();
        return (api, await api.DefaultWorkspaceAsync());
    }

    private static async Task<string> SubmitAsync(ApiClient api, string ws, object body)
    {
        var r = await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob", body);
        r.EnsureOk();
        return r.Json["submissionId"]!.GetValue<string>();
    }

    private static async Task<JsonNode> GetJobAsync(ApiClient api, string ws, string id) =>
        (await api.GetAsync($"/api/v1/workspaces/{ws}/rayJob/{id}")).EnsureOk().Json;

    private async Task<JsonNode> WaitForJobAsync(ApiClient api, string ws, string id, Func<JsonNode, bool> until, TimeSpan? step = null)
    {
        JsonNode last = await GetJobAsync(api, ws, id);
        await Eventually.HoldsAsync(_host, async () => until(last = await GetJobAsync(api, ws, id)), step);
        return last;
    }

    private static Func<JsonNode, bool> Status(string status) => j => j["status"]!.GetValue<string>() == status;

    [Fact]
    public async Task A_job_mode_job_waits_for_its_cluster_runs_succeeds_and_its_cluster_goes_after_the_ttl_while_the_job_stays()
    {
        var (api, ws) = await StartAsync();
        var id = await SubmitAsync(api, ws, JobModeBody());
        Assert.Matches("^rj-[a-z0-9]{16}$", id);

        var pending = await GetJobAsync(api, ws, id);
        Assert.Contains(pending["status"]!.GetValue<string>(), new[] { "Submitted", "Pending" });
        var clusterId = pending["clusterId"]!.GetValue<string>();
        // The job-mode cluster is listed, marked as the job's.
        var listed = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).EnsureOk().Json["rayClusters"]!.AsArray();
        Assert.Contains(listed, c => c!["clusterId"]!.GetValue<string>() == clusterId && c["jobSubmissionId"]!.GetValue<string>() == id);

        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        Assert.Equal("Running", running["clusterState"]!.GetValue<string>());
        Assert.NotNull(running["startTime"]);
        var head = Heads.HeadOf(clusterId);
        var submission = Assert.Single(head.Submissions);
        Assert.Equal(id, submission.SubmissionId);
        Assert.Equal("python main.py", submission.Entrypoint);

        _host.Clock.Advance(TimeSpan.FromMinutes(30));
        head.Finish(id, "SUCCEEDED", "Job finished successfully.");
        var done = await WaitForJobAsync(api, ws, id, Status("Succeeded"));
        Assert.Equal("Job finished successfully.", done["message"]!.GetValue<string>());
        Assert.True(done["cuHours"]!.GetValue<double>() >= 0.9, $"2 CU for about 30 minutes, got {done["cuHours"]}");
        Assert.Equal("Running", done["clusterState"]!.GetValue<string>()); // the TTL has not passed
        var driverLog = Path.Combine(_host.DataDirectory, "logs", ws, "ray", "logs", id, id + "_driver.log");
        Assert.Equal($"driver of {id}\n", File.ReadAllText(driverLog));

        // 60 s after the end the cluster goes; the job stays, with its logs.
        await WaitForJobAsync(api, ws, id, j => j["clusterState"]!.GetValue<string>() == "Deleted", step: TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{clusterId}")).Status);
        await Eventually.HoldsAsync(_host, async () => !await _host.Services.ClusterRowExistsAsync(clusterId));
        Assert.Equal("Succeeded", (await GetJobAsync(api, ws, id))["status"]!.GetValue<string>());
        Assert.True(File.Exists(driverLog));
        // The node logs were copied before the nodes went.
        var instance = Assert.Single(Heads.Heads.Keys, k => k.StartsWith(clusterId + "-", StringComparison.Ordinal));
        Assert.Equal($"node log of {instance}\n", File.ReadAllText(Path.Combine(_host.DataDirectory, "logs", ws, "ray", "logs", id, "nodes", "head", "raylet.out")));
        Assert.Equal(1, head.Runs[id]);
    }

    [Fact]
    public async Task A_full_disk_does_not_stop_a_job_from_being_followed_to_its_end()
    {
        var (api, ws) = await StartAsync();
        var disk = (FullDisk)_host.Services.GetRequiredService<IJobLogWriter>();
        disk.Armed = true;
        var id = await SubmitAsync(api, ws, JobModeBody());
        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        Heads.HeadOf(running["clusterId"]!.GetValue<string>()).Finish(id, "SUCCEEDED", "Job finished successfully.");
        await WaitForJobAsync(api, ws, id, Status("Succeeded"));
        Assert.True(disk.Refused >= 2, $"every look tried the copy again, refused {disk.Refused}");
        Assert.False(File.Exists(Path.Combine(_host.DataDirectory, "logs", ws, "ray", "logs", id, id + "_driver.log")));
    }

    [Fact]
    public async Task Ray_failed_becomes_Failed_with_Rays_message()
    {
        var (api, ws) = await StartAsync();
        var id = await SubmitAsync(api, ws, JobModeBody("exit 3"));
        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        Heads.HeadOf(running["clusterId"]!.GetValue<string>()).Finish(id, "FAILED", "Job entrypoint command failed with exit code 3", exitCode: 3);
        var failed = await WaitForJobAsync(api, ws, id, Status("Failed"));
        Assert.Contains("exit code 3", failed["message"]!.GetValue<string>());
        Assert.NotNull(failed["endTime"]);
    }

    [Fact]
    public async Task Cancel_stops_the_running_job_through_Ray_and_a_second_cancel_answers_success_false()
    {
        var (api, ws) = await StartAsync();
        var id = await SubmitAsync(api, ws, JobModeBody("sleep 600"));
        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        var head = Heads.HeadOf(running["clusterId"]!.GetValue<string>());

        var cancel = (await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{id}/cancel")).EnsureOk().Json;
        Assert.True(cancel["success"]!.GetValue<bool>());
        // Shown at once, whether or not the reconciler already acted on it.
        Assert.Contains((await GetJobAsync(api, ws, id))["status"]!.GetValue<string>(), new[] { "Cancelling", "Cancelled" });
        var cancelled = await WaitForJobAsync(api, ws, id, Status("Cancelled"));
        Assert.Equal(id, Assert.Single(head.Stops));
        Assert.Equal("The job was cancelled.", cancelled["message"]!.GetValue<string>());

        var again = (await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{id}/cancel")).EnsureOk().Json;
        Assert.False(again["success"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_job_cancelled_before_its_cluster_runs_is_never_submitted()
    {
        var (api, ws) = await StartAsync();
        var id = await SubmitAsync(api, ws, JobModeBody());
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{id}/cancel")).EnsureOk();
        var cancelled = await WaitForJobAsync(api, ws, id, Status("Cancelled"));
        Assert.Null(cancelled["startTime"]);
        Assert.All(Heads.Heads.Values, h => Assert.Empty(h.Submissions));
    }

    [Fact]
    public async Task Past_activeDeadlineSeconds_counted_from_submission_the_job_is_stopped_and_ends_Timeout()
    {
        var (api, ws) = await StartAsync();
        var id = await SubmitAsync(api, ws, JobModeBody("sleep 600", deadline: 30));
        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        var head = Heads.HeadOf(running["clusterId"]!.GetValue<string>());
        var timedOut = await WaitForJobAsync(api, ws, id, Status("Timeout"), step: TimeSpan.FromSeconds(5));
        Assert.Equal(id, Assert.Single(head.Stops));
        Assert.Contains("activeDeadlineSeconds", timedOut["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_submit_whose_answer_was_lost_after_Ray_took_it_is_repeated_and_Ray_runs_the_job_once()
    {
        var (api, ws) = await StartAsync();
        var clusterId = await api.CreateClusterAsync(ws, new { name = "shared", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, clusterId, ApiClient.InState("Running"));
        var head = (FakeRayHead)(await Heads.JobApiAsync((await api.GetClusterAsync(ws, clusterId))["instanceId"]!.GetValue<string>(), default))!;
        head.LoseNextSubmitAnswer = true;
        head.NotReadyAnswers = 2;

        var id = await SubmitAsync(api, ws, new { entrypoint = "echo once", clusterId });
        await WaitForJobAsync(api, ws, id, Status("Running"));
        Assert.Equal(1, head.Runs[id]);
        Assert.Equal(2, head.Submissions.Count); // the lost answer, then "already exists"
    }

    [Fact]
    public async Task A_job_on_an_existing_cluster_leaves_the_cluster_running_and_is_charged_only_while_it_ran()
    {
        var (api, ws) = await StartAsync();
        var clusterId = await api.CreateClusterAsync(ws, new { name = "shared", headSpec = new { cpu = "2", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, clusterId, ApiClient.InState("Running"));
        _host.Clock.Advance(TimeSpan.FromHours(1)); // charged to the cluster, not to the job

        var id = await SubmitAsync(api, ws, new { entrypoint = "echo hi", clusterId });
        var running = await WaitForJobAsync(api, ws, id, Status("Running"));
        Assert.Equal(clusterId, running["clusterId"]!.GetValue<string>());
        _host.Clock.Advance(TimeSpan.FromMinutes(30));
        await api.WaitForQuietAsync();
        Heads.HeadOf(clusterId).Finish(id, "SUCCEEDED", "Job finished successfully.");
        var done = await WaitForJobAsync(api, ws, id, Status("Succeeded"));

        // 2 CU for the job's half hour (plus the few seconds of polling), not the cluster's hour before it.
        Assert.InRange(done["cuHours"]!.GetValue<double>(), 0.99, 1.1);
        var cluster = await api.GetClusterAsync(ws, clusterId);
        Assert.Equal("Running", cluster["state"]!.GetValue<string>());
        Assert.True(cluster["cuHours"]!.GetValue<double>() >= 3.0, $"the cluster ran 1.5 h at 2 CU, got {cluster["cuHours"]}");
        _host.Clock.Advance(TimeSpan.FromHours(1));
        await api.WaitForQuietAsync();
        Assert.Equal("Running", (await api.GetClusterAsync(ws, clusterId))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_job_to_a_stopped_cluster_is_refused_and_one_to_an_unknown_cluster_names_it()
    {
        var (api, ws) = await StartAsync();
        var clusterId = await api.CreateClusterAsync(ws, new { name = "stopped", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, clusterId, ApiClient.InState("Running"));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{clusterId}/stop", new { })).EnsureOk();

        var refused = await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob", new { entrypoint = "echo", clusterId });
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Equal("OperationDenied", refused.Code);

        var unknown = await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob", new { entrypoint = "echo", clusterId = "ray-0000000000000000" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.Equal("InvalidRayCluster.NotFound", unknown.Code);
    }

    [Fact]
    public async Task A_job_whose_cluster_waits_for_queue_capacity_stays_Pending_then_runs_when_capacity_frees()
    {
        var (api, ws) = await StartAsync();
        // The queue has 8 CU: this cluster takes 7, the job's cluster needs 2 (a head and a worker of 1 CU).
        var big = await api.CreateClusterAsync(ws, new { name = "big", headSpec = new { cpu = "7", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, big, ApiClient.InState("Running"));

        var id = await SubmitAsync(api, ws, JobModeBody());
        await Eventually.HoldsAsync(_host, async () => (await GetJobAsync(api, ws, id))["message"]?.GetValue<string>()?.Contains("root_queue") == true);
        var waiting = await GetJobAsync(api, ws, id);
        Assert.Equal("Pending", waiting["status"]!.GetValue<string>());
        Assert.Equal("Pending", waiting["clusterState"]!.GetValue<string>());
        _host.Clock.Advance(TimeSpan.FromMinutes(5));
        await api.WaitForQuietAsync();
        Assert.Equal("Pending", (await GetJobAsync(api, ws, id))["status"]!.GetValue<string>());

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{big}")).EnsureOk();
        await WaitForJobAsync(api, ws, id, Status("Running"));
    }

    [Fact]
    public async Task Idle_stop_stops_a_cluster_with_nothing_running_and_says_why_but_not_while_a_driver_is_connected()
    {
        var (api, ws) = await StartAsync();
        var idle = await api.CreateClusterAsync(ws, new { name = "idle", extraParam = "{\"idleStopSeconds\": 120}", headSpec = new { cpu = "1", memory = "4Gi" } });
        var busy = await api.CreateClusterAsync(ws, new { name = "busy", extraParam = "{\"idleStopSeconds\": 120}", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, idle, ApiClient.InState("Running"));
        await api.WaitForClusterAsync(ws, busy, ApiClient.InState("Running"));
        Heads.HeadOf(busy).Drivers["02000000"] = "ray.init session";

        _host.Clock.Advance(TimeSpan.FromSeconds(60));
        await api.WaitForQuietAsync();
        Assert.Equal("Running", (await api.GetClusterAsync(ws, idle))["state"]!.GetValue<string>());

        var stopped = await api.WaitForClusterAsync(ws, idle, ApiClient.InState("Stopped"), step: TimeSpan.FromSeconds(10));
        Assert.Contains("no running job and no connected driver", stopped["message"]!.GetValue<string>());
        Assert.Equal("Running", (await api.GetClusterAsync(ws, busy))["state"]!.GetValue<string>());

        // A Start clears the reason; the clock starts again from the new instance.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{idle}/start", new { })).EnsureOk();
        var restarted = await api.WaitForClusterAsync(ws, idle, ApiClient.InState("Running"));
        Assert.DoesNotContain("idle", restarted["message"]?.GetValue<string>() ?? "");
    }
}
