using System.Collections.Immutable;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Simulated;

namespace Rayfleet.Server.Tests.Providers.Simulated;

/// <summary>
/// Ray's Job Submission API as the simulated provider's heads answer it, on a fake clock: jobs move by recorded times,
/// live in files under the data folder, and end with their head.
/// </summary>
public sealed class SimulatedJobTests : IDisposable
{
    private const string Instance = "ray-simjobs0000000001-abcd1234";
    private readonly string _data = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<SimulatedProvider> _providers = [];
    private readonly SimulatedProvider _provider;

    public SimulatedJobTests() => _provider = NewProvider();

    public void Dispose()
    {
        foreach (var provider in _providers) provider.Dispose();
        if (Directory.Exists(_data)) Directory.Delete(_data, recursive: true);
    }

    private SimulatedProvider NewProvider()
    {
        var options = new SimulatedProviderOptions
        {
            NodeStartDelay = TimeSpan.FromSeconds(2),
            NodeStopDelay = TimeSpan.FromSeconds(1),
            JobRunTime = TimeSpan.FromSeconds(2),
        };
        var provider = new SimulatedProvider(Options.Create(options), new DataFolder(_data), _clock);
        _providers.Add(provider);
        return provider;
    }

    private static ProviderClusterRequest Request(string? extraParam = null, int workers = 0)
    {
        var release = new ReleaseVersion("err-1.2.0 (Ray 2.55.1, Python 3.12)", "2.55.1", "3.12", "rayproject/ray:2.55.1", "ray", "ONLINE", "stable", true);
        var spec = new ClusterSpec
        {
            Name = "c",
            DisplayReleaseVersion = release.DisplayReleaseVersion,
            ExtraParam = extraParam,
            Head = new HeadGroupSpec { Cpu = "2", Memory = "4Gi", QueueName = "q" },
            Workers = [new WorkerGroupSpec { GroupName = "g", Replica = workers, MinReplica = 0, MaxReplica = 4, Cpu = "1", Memory = "2Gi", QueueName = "q" }],
        };
        var nodes = new ProviderNodeGroup(release, null);
        return new ProviderClusterRequest("w-0000000000000001", "ray-simjobs0000000001", Instance, spec,
            ImmutableDictionary<string, int>.Empty.Add("g", workers), release)
        {
            Head = nodes,
            Groups = ImmutableDictionary<string, ProviderNodeGroup>.Empty.Add("g", nodes),
        };
    }

    private void Advance(double seconds) => _clock.Advance(TimeSpan.FromSeconds(seconds));

    /// <summary>Applies the cluster and lets its head come up (the default start delay is 2 s).</summary>
    private async Task<IRayJobApi> ReadyHeadAsync(string? extraParam = null, SimulatedProvider? provider = null)
    {
        provider ??= _provider;
        await provider.ApplyAsync(Request(extraParam), default);
        Advance(2);
        return await provider.JobApiAsync(Instance, default) ?? throw new InvalidOperationException("The head should be ready.");
    }

    private static RayJobSubmission Job(string id, string? extraParam = null, string entrypoint = "python main.py") =>
        new() { SubmissionId = id, Entrypoint = entrypoint, ExtraParam = extraParam };

    private static async Task<RayJobDetails> GetAsync(IRayJobApi api, string id) =>
        await api.GetAsync(id, default) ?? throw new InvalidOperationException($"Ray should know {id}.");

    [Fact]
    public async Task There_is_no_job_api_before_the_head_is_ready_and_submits_wait_for_the_dashboard_agent()
    {
        await _provider.ApplyAsync(Request("""{"simulated":{"agentDelaySeconds":3}}"""), default);
        Assert.Null(await _provider.JobApiAsync(Instance, default));
        Assert.Null(await _provider.JobApiAsync("ray-unknown-instance", default));

        Advance(2);
        var api = await _provider.JobApiAsync(Instance, default);
        Assert.NotNull(api);
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(Job("rj-early"), default));
        Assert.Null(await api.GetAsync("rj-early", default));

        Advance(3);
        Assert.Equal(RaySubmitOutcome.Submitted, await api.SubmitAsync(Job("rj-early"), default));
        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-early")).Status);
    }

    [Fact]
    public async Task A_job_is_pending_then_running_then_succeeds_by_the_clock()
    {
        var api = await ReadyHeadAsync();
        var submittedAt = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.Equal(RaySubmitOutcome.Submitted, await api.SubmitAsync(Job("rj-ok", """{"simulated":{"pendingSeconds":1,"runSeconds":2}}"""), default));

        var pending = await GetAsync(api, "rj-ok");
        Assert.Equal(("SUBMISSION", RayJobStatus.Pending, "rj-ok"), (pending.Type, pending.Status, pending.SubmissionId));
        Assert.Null(pending.JobId);
        Assert.Equal(submittedAt, pending.StartTime);
        Assert.Null(pending.EndTime);

        Advance(1);
        var running = await GetAsync(api, "rj-ok");
        Assert.Equal(RayJobStatus.Running, running.Status);
        Assert.Equal("01000000", running.JobId);
        Assert.Contains("Running entrypoint for job rj-ok: python main.py", await api.LogsAsync("rj-ok", default), StringComparison.Ordinal);

        Advance(1.999);
        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-ok")).Status);
        Advance(0.001);
        var done = await GetAsync(api, "rj-ok");
        Assert.Equal(RayJobStatus.Succeeded, done.Status);
        Assert.Equal("Job finished successfully.", done.Message);
        Assert.Equal(0, done.DriverExitCode);
        Assert.Null(done.ErrorType);
        Assert.Equal(submittedAt + 3000, done.EndTime);

        var log = await api.LogsAsync("rj-ok", default);
        Assert.Equal(3, log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.StartsWith("2025-01-01 00:00:02,000\tINFO simulated -- Job rj-ok submitted", log, StringComparison.Ordinal);
        Assert.Contains("2025-01-01 00:00:05,000\tINFO simulated -- Job rj-ok finished: the entrypoint exited with code 0", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_without_knobs_runs_for_the_configured_run_time()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-default"), default);

        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-default")).Status);
        Advance(1.9);
        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-default")).Status);
        Advance(0.1);
        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(api, "rj-default")).Status);
    }

    [Fact]
    public async Task A_nonzero_exit_code_fails_the_job_as_ray_reports_it()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-bad", """{"simulated":{"runSeconds":1,"exitCode":3}}""", entrypoint: "exit 3"), default);
        Advance(1);

        var failed = await GetAsync(api, "rj-bad");
        Assert.Equal(RayJobStatus.Failed, failed.Status);
        Assert.Equal(3, failed.DriverExitCode);
        Assert.Equal(SimulatedProvider.EntrypointErrorType, failed.ErrorType);
        Assert.StartsWith("Job entrypoint command failed with exit code 3, last available logs", failed.Message, StringComparison.Ordinal);
        Assert.Contains("Running entrypoint for job rj-bad: exit 3", failed.Message, StringComparison.Ordinal);
        Assert.Contains("exited with code 3 (FAILED)", await api.LogsAsync("rj-bad", default), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clusters_job_knobs_are_the_defaults_of_its_jobs_and_a_jobs_own_knobs_win()
    {
        var api = await ReadyHeadAsync("""{"simulated":{"runSeconds":10,"exitCode":4}}""");
        await api.SubmitAsync(Job("rj-cluster-default"), default);
        await api.SubmitAsync(Job("rj-own", """{"simulated":{"exitCode":0}}"""), default);

        Advance(9.9);
        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-cluster-default")).Status);
        Advance(0.1);
        Assert.Equal((RayJobStatus.Failed, 4), ((await GetAsync(api, "rj-cluster-default")).Status, (await GetAsync(api, "rj-cluster-default")).DriverExitCode));
        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(api, "rj-own")).Status);
    }

    [Fact]
    public async Task Stop_ends_a_running_or_pending_job_as_stopped_and_not_a_finished_one()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-long", """{"simulated":{"runSeconds":60}}"""), default);
        await api.SubmitAsync(Job("rj-waiting", """{"simulated":{"pendingSeconds":60}}"""), default);
        await api.SubmitAsync(Job("rj-short", """{"simulated":{"runSeconds":1}}"""), default);
        Advance(5);

        Assert.True(await api.StopAsync("rj-long", default));
        Assert.True(await api.StopAsync("rj-waiting", default));
        Assert.False(await api.StopAsync("rj-long", default));
        Assert.False(await api.StopAsync("rj-short", default));
        Assert.False(await api.StopAsync("rj-unknown", default));

        Advance(120);
        var stopped = await GetAsync(api, "rj-long");
        Assert.Equal((RayJobStatus.Stopped, "Job was intentionally stopped."), (stopped.Status, stopped.Message));
        Assert.Equal(_clock.GetUtcNow().ToUnixTimeMilliseconds() - 120_000, stopped.EndTime);
        Assert.Null(stopped.DriverExitCode);
        Assert.NotNull(stopped.JobId);
        var neverStarted = await GetAsync(api, "rj-waiting");
        Assert.Equal(RayJobStatus.Stopped, neverStarted.Status);
        Assert.Null(neverStarted.JobId);
        Assert.DoesNotContain("Running entrypoint", await api.LogsAsync("rj-waiting", default), StringComparison.Ordinal);
        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(api, "rj-short")).Status);
    }

    [Fact]
    public async Task A_repeated_submit_answers_already_submitted_and_the_job_runs_once()
    {
        var api = await ReadyHeadAsync();
        Assert.Equal(RaySubmitOutcome.Submitted, await api.SubmitAsync(Job("rj-once", """{"simulated":{"runSeconds":5}}"""), default));
        Advance(1);
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted,
            await api.SubmitAsync(Job("rj-once", """{"simulated":{"runSeconds":1,"exitCode":9}}""", entrypoint: "other"), default));

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => api.SubmitAsync(Job("rj-race"), default)));
        Assert.Equal(1, outcomes.Count(o => o == RaySubmitOutcome.Submitted));
        Assert.Equal(7, outcomes.Count(o => o == RaySubmitOutcome.AlreadySubmitted));

        Advance(4);
        var once = await GetAsync(api, "rj-once");
        Assert.Equal((RayJobStatus.Succeeded, 0), (once.Status, once.DriverExitCode));
        Assert.DoesNotContain("other", await api.LogsAsync("rj-once", default), StringComparison.Ordinal);
        Assert.Equal(["rj-once", "rj-race"], (await api.ListAsync(default)).Select(j => j.SubmissionId));
    }

    [Fact]
    public async Task Jobs_outlive_the_service_a_new_provider_on_the_same_data_folder_follows_them()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-kept", """{"simulated":{"runSeconds":10}}"""), default);
        await api.SubmitAsync(Job("rj-to-stop", """{"simulated":{"runSeconds":10}}"""), default);

        var restarted = NewProvider();
        var again = await restarted.JobApiAsync(Instance, default);
        Assert.NotNull(again);
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await again.SubmitAsync(Job("rj-kept"), default));
        Assert.True(await again.StopAsync("rj-to-stop", default));
        Advance(10);

        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(again, "rj-kept")).Status);
        Assert.Equal(RayJobStatus.Stopped, (await GetAsync(again, "rj-to-stop")).Status);
        Assert.Equal(RaySubmitOutcome.Submitted, await again.SubmitAsync(Job("rj-next"), default));
        Assert.Equal("03000000", (await GetAsync(again, "rj-next")).JobId);
    }

    [Fact]
    public async Task Removing_the_instance_fails_its_unfinished_jobs_as_a_dead_supervisor_and_forgets_them_once_gone()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-done", """{"simulated":{"runSeconds":1}}"""), default);
        await api.SubmitAsync(Job("rj-running", """{"simulated":{"runSeconds":60}}"""), default);
        await api.SubmitAsync(Job("rj-pending", """{"simulated":{"pendingSeconds":60}}"""), default);
        Advance(5);
        var stopAt = _clock.GetUtcNow().ToUnixTimeMilliseconds();

        Assert.False(await _provider.RemoveAsync(Instance, default));
        Assert.Null(await _provider.JobApiAsync(Instance, default));
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(Job("rj-late"), default));
        Advance(0.5);
        foreach (var id in new[] { "rj-running", "rj-pending" })
        {
            var dead = await GetAsync(api, id);
            Assert.Equal((RayJobStatus.Failed, SimulatedProvider.SupervisorDiedErrorType, stopAt), (dead.Status, dead.ErrorType, dead.EndTime));
            Assert.StartsWith("Job supervisor actor died", dead.Message, StringComparison.Ordinal);
            Assert.Null(dead.DriverExitCode);
        }
        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(api, "rj-done")).Status);

        Advance(0.5);
        Assert.True(await _provider.RemoveAsync(Instance, default));
        Assert.Null(await _provider.JobApiAsync(Instance, default));
        await Assert.ThrowsAsync<HttpRequestException>(() => api.GetAsync("rj-running", default));
        Assert.False(Directory.Exists(Path.Combine(_data, "simulated", "jobs", Instance)));

        // A head started again under the same instance id is a new head: it knows none of the old jobs.
        var fresh = await ReadyHeadAsync();
        Assert.Empty(await fresh.ListAsync(default));
    }

    [Fact]
    public async Task A_head_brought_back_before_it_was_gone_keeps_its_jobs_dead()
    {
        var api = await ReadyHeadAsync();
        await api.SubmitAsync(Job("rj-long", """{"simulated":{"runSeconds":60}}"""), default);
        Advance(1);
        Assert.False(await _provider.RemoveAsync(Instance, default));
        Advance(0.5);
        await _provider.ApplyAsync(Request(), default);

        var again = await _provider.JobApiAsync(Instance, default);
        Assert.NotNull(again);
        Assert.Equal(RayJobStatus.Failed, (await GetAsync(again, "rj-long")).Status);
        Assert.Equal(RaySubmitOutcome.Submitted, await again.SubmitAsync(Job("rj-after", """{"simulated":{"runSeconds":1}}"""), default));
        Advance(1);
        Assert.Equal(RayJobStatus.Succeeded, (await GetAsync(again, "rj-after")).Status);
    }

    [Fact]
    public async Task A_failed_head_fails_the_jobs_running_on_it()
    {
        var api = await ReadyHeadAsync("""{"simulated":{"failAfterSeconds":5}}""");
        await api.SubmitAsync(Job("rj-doomed", """{"simulated":{"runSeconds":60}}"""), default);
        Advance(4.9);
        Assert.Equal(RayJobStatus.Running, (await GetAsync(api, "rj-doomed")).Status);

        Advance(0.1);
        Assert.Null(await _provider.JobApiAsync(Instance, default));
        var dead = await GetAsync(api, "rj-doomed");
        Assert.Equal((RayJobStatus.Failed, SimulatedProvider.SupervisorDiedErrorType), (dead.Status, dead.ErrorType));
        Assert.Contains("failed", dead.Message, StringComparison.Ordinal);
        Assert.Equal(RaySubmitOutcome.NotReady, await api.SubmitAsync(Job("rj-late"), default));
    }

    [Fact]
    public async Task A_connected_driver_is_listed_until_the_cluster_says_it_left()
    {
        var plain = await ReadyHeadAsync();
        Assert.DoesNotContain(await plain.ListAsync(default), j => j.Type == "DRIVER");

        await _provider.ApplyAsync(Request("""{"simulated":{"driverConnected":true}}"""), default);
        await plain.SubmitAsync(Job("rj-beside"), default);
        var listed = await plain.ListAsync(default);
        var driver = Assert.Single(listed, j => j.Type == "DRIVER");
        Assert.Equal((RayJobStatus.Running, (string?)null, "01000000"), (driver.Status, driver.SubmissionId, driver.JobId));
        Assert.Single(listed, j => j.Type == "SUBMISSION");

        Advance(30);
        await _provider.ApplyAsync(Request("""{"simulated":{"driverConnected":true}}"""), default);
        Assert.Equal(RayJobStatus.Running, Assert.Single(await plain.ListAsync(default), j => j.Type == "DRIVER").Status);

        await _provider.ApplyAsync(Request(), default);
        var left = Assert.Single(await plain.ListAsync(default), j => j.Type == "DRIVER");
        Assert.Equal((RayJobStatus.Succeeded, _clock.GetUtcNow().ToUnixTimeMilliseconds()), (left.Status, left.EndTime));
    }

    [Fact]
    public async Task A_driver_connects_only_once_the_head_is_up()
    {
        await _provider.ApplyAsync(Request("""{"simulated":{"driverConnected":true}}"""), default);
        Advance(2);
        var api = await _provider.JobApiAsync(Instance, default);
        Assert.NotNull(api);

        var driver = Assert.Single(await api.ListAsync(default));
        Assert.Equal(("DRIVER", RayJobStatus.Running, _clock.GetUtcNow().ToUnixTimeMilliseconds()), (driver.Type, driver.Status, driver.StartTime));
    }

    [Fact]
    public async Task A_driver_that_left_before_the_head_was_up_is_never_listed()
    {
        await _provider.ApplyAsync(Request("""{"simulated":{"driverConnected":true}}"""), default);
        Advance(1);
        await _provider.ApplyAsync(Request(), default);
        Advance(1);
        var api = await _provider.JobApiAsync(Instance, default);
        Assert.NotNull(api);
        await api.SubmitAsync(Job("rj-alone"), default);

        var only = Assert.Single(await api.ListAsync(default));
        Assert.Equal(("SUBMISSION", "02000000"), (only.Type, only.JobId));
    }

    [Fact]
    public async Task An_unusual_submission_id_is_kept_inside_the_instances_job_folder()
    {
        var api = await ReadyHeadAsync();
        Assert.Equal(RaySubmitOutcome.Submitted, await api.SubmitAsync(Job("../../../escape"), default));
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await api.SubmitAsync(Job("../../../escape"), default));

        Assert.Equal("../../../escape", (await GetAsync(api, "../../../escape")).SubmissionId);
        var file = Assert.Single(Directory.GetFiles(_data, "*", SearchOption.AllDirectories), f => !f.EndsWith(Instance + ".json", StringComparison.Ordinal));
        Assert.StartsWith(Path.Combine(_data, "simulated", "jobs", Instance) + Path.DirectorySeparatorChar, file, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_job_is_not_found_and_has_no_log()
    {
        var api = await ReadyHeadAsync();

        Assert.Null(await api.GetAsync("rj-nobody", default));
        Assert.Equal("", await api.LogsAsync("rj-nobody", default));
        Assert.Empty(await api.ListAsync(default));
    }

    private sealed class MemorySink : INodeLogSink
    {
        public Dictionary<string, string> Files { get; } = new(StringComparer.Ordinal);

        public async Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken)
        {
            using var reader = new StreamReader(content, Encoding.UTF8);
            Files[relativeName] = await reader.ReadToEndAsync(cancellationToken);
        }
    }

    [Fact]
    public async Task Node_logs_have_one_file_per_node_telling_what_it_did_and_when()
    {
        var observed = await _provider.ApplyAsync(Request(workers: 2), default);
        Advance(3);
        Assert.False(await _provider.RemoveAsync(Instance, default));
        var sink = new MemorySink();

        await _provider.CollectNodeLogsAsync(Instance, sink, default);

        var workers = observed.Nodes.Where(n => n.Type == "Worker").Select(n => $"worker/{n.NodeId}/simulated-node.log");
        Assert.Equal(["head/simulated-node.log", .. workers.Order(StringComparer.Ordinal)], sink.Files.Keys.Order(StringComparer.Ordinal));
        var head = sink.Files["head/simulated-node.log"];
        Assert.Contains($"2025-01-01 00:00:00,000\tINFO simulated -- Simulated node {observed.Nodes.Single(n => n.Type == "Head").NodeId} (head) created", head, StringComparison.Ordinal);
        Assert.Contains("2025-01-01 00:00:02,000\tINFO simulated -- Node ready", head, StringComparison.Ordinal);
        Assert.Contains("2025-01-01 00:00:03,000\tINFO simulated -- Stop requested", head, StringComparison.Ordinal);
        Assert.All(sink.Files.Values, log => Assert.Equal(3, log.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length));

        var again = new MemorySink();
        await _provider.CollectNodeLogsAsync(Instance, again, default);
        Assert.Equal(sink.Files, again.Files);
    }

    [Fact]
    public async Task Node_logs_tell_of_a_failed_node_and_an_unknown_instance_has_none()
    {
        await _provider.ApplyAsync(Request("""{"simulated":{"failOnStart":true}}"""), default);
        Advance(2);
        var sink = new MemorySink();

        await _provider.CollectNodeLogsAsync(Instance, sink, default);
        await _provider.CollectNodeLogsAsync("ray-unknown-instance", sink, default);

        var head = Assert.Single(sink.Files).Value;
        Assert.Contains("2025-01-01 00:00:02,000\tERROR simulated -- Node failed before it was ready", head, StringComparison.Ordinal);
        Assert.DoesNotContain("Node ready", head, StringComparison.Ordinal);
    }
}
