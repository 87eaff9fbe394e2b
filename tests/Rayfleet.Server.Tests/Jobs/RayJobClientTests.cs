using System.Globalization;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers.Local;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>
/// <see cref="RayJobClient"/> against a real stand-in head: Ray's Job API over HTTP, entrypoints that really run as
/// processes, real time (polls with a deadline).
/// </summary>
public sealed class RayJobClientTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static RayJobSubmission Job(string entrypoint, string? id = null, string? runtimeEnv = null) => new()
    {
        SubmissionId = id ?? "rf-" + Guid.NewGuid().ToString("N")[..10],
        Entrypoint = entrypoint,
        RuntimeEnvJson = runtimeEnv,
    };

    private static async Task<RayJobDetails> EndedAsync(RayJobClient client, string id, TimeSpan? deadline = null)
    {
        RayJobDetails? last = null;
        await Wall.UntilAsync(async () => (last = await client.GetAsync(id, None)) is { } d && RayJobStatus.IsTerminal(d.Status), $"job {id} ends", deadline);
        return last!;
    }

    /// <summary>A sleep of its own length, so that the test finds exactly its process.</summary>
    private static string UniqueSleep() => "3" + Random.Shared.Next(1, 9) + "." + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task An_entrypoint_that_exits_0_succeeds_and_its_log_holds_what_it_printed()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var job = Job("echo hi; echo to-stderr >&2; exit 0");

        Assert.Equal(RaySubmitOutcome.Submitted, await client.SubmitAsync(job, None));
        var ended = await EndedAsync(client, job.SubmissionId);

        Assert.Equal(RayJobStatus.Succeeded, ended.Status);
        Assert.Equal("SUBMISSION", ended.Type);
        Assert.Equal(job.SubmissionId, ended.SubmissionId);
        Assert.Equal(0, ended.DriverExitCode);
        Assert.True(ended.StartTime > 0 && ended.EndTime >= ended.StartTime, $"start {ended.StartTime}, end {ended.EndTime}");
        Assert.Equal("hi\nto-stderr\n", await client.LogsAsync(job.SubmissionId, None));
    }

    [Fact]
    public async Task The_entrypoint_gets_the_runtime_env_vars_and_runs_in_its_working_dir()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var dir = Directory.CreateTempSubdirectory("rft-wd-").FullName;
        try
        {
            var job = Job("echo \"greeting=$GREETING\"; pwd", runtimeEnv: $$"""{"env_vars":{"GREETING":"hello there"},"working_dir":"{{dir}}"}""");
            Assert.Equal(RaySubmitOutcome.Submitted, await client.SubmitAsync(job, None));
            Assert.Equal(RayJobStatus.Succeeded, (await EndedAsync(client, job.SubmissionId)).Status);
            Assert.Equal($"greeting=hello there\n{dir}\n", await client.LogsAsync(job.SubmissionId, None));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task An_entrypoint_that_exits_3_fails_with_its_exit_code_and_Rays_message()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var job = Job("echo about to fail; exit 3");

        await client.SubmitAsync(job, None);
        var ended = await EndedAsync(client, job.SubmissionId);

        Assert.Equal(RayJobStatus.Failed, ended.Status);
        Assert.Equal(3, ended.DriverExitCode);
        Assert.Equal("JOB_ENTRYPOINT_COMMAND_ERROR", ended.ErrorType);
        Assert.StartsWith("Job entrypoint command failed with exit code 3.", ended.Message, StringComparison.Ordinal);
        Assert.Contains("about to fail", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_ends_a_running_job_as_STOPPED_and_its_process_is_gone()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var seconds = UniqueSleep();
        var job = Job($"trap 'echo got SIGTERM; exit 0' TERM; sleep {seconds} & wait");
        await client.SubmitAsync(job, None);
        IReadOnlyList<int> pids = [];
        await Wall.UntilAsync(() => (pids = StandInHead.PidsOf("sleep", seconds)).Count == 1, "the job's sleep runs");
        Assert.Equal(RayJobStatus.Running, (await client.GetAsync(job.SubmissionId, None))!.Status);

        Assert.True(await client.StopAsync(job.SubmissionId, None));
        var ended = await EndedAsync(client, job.SubmissionId, TimeSpan.FromSeconds(10));

        Assert.Equal(RayJobStatus.Stopped, ended.Status);
        // SIGTERM first, as Ray sends (its SIGKILL follows only when the job is still there 3 seconds later).
        Assert.Equal("got SIGTERM\n", await client.LogsAsync(job.SubmissionId, None));
        Assert.Equal("Job was intentionally stopped.", ended.Message);
        Assert.Null(ended.DriverExitCode);
        await Wall.UntilAsync(() => ProcFs.ReadStat(pids[0]) is not { IsAlive: true }, "the sleep process is gone", TimeSpan.FromSeconds(10));
        // Ray answers false once the job's driver has ended.
        Assert.False(await client.StopAsync(job.SubmissionId, None));
    }

    [Fact]
    public async Task A_second_submit_of_the_same_id_is_AlreadySubmitted_and_the_entrypoint_runs_once()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var marker = Path.Combine(head.TempDir, "runs.txt");
        var job = Job($"echo ran >> '{marker}'");

        Assert.Equal(RaySubmitOutcome.Submitted, await client.SubmitAsync(job, None));
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await client.SubmitAsync(job, None));
        await EndedAsync(client, job.SubmissionId);
        Assert.Equal(RaySubmitOutcome.AlreadySubmitted, await client.SubmitAsync(job with { Entrypoint = $"echo again >> '{marker}'" }, None));

        await Wall.UntilAsync(async () => (await client.ListAsync(None)).All(j => RayJobStatus.IsTerminal(j.Status)), "every job has ended");
        Assert.Equal(["ran"], await File.ReadAllLinesAsync(marker));
    }

    [Fact]
    public async Task A_submit_before_the_heads_job_agent_is_up_is_NotReady_and_a_later_one_is_Submitted()
    {
        using var head = await StandInHead.StartAsync(agentDelaySeconds: 3);
        var client = head.Client();
        var job = Job("echo late");

        Assert.Equal(RaySubmitOutcome.NotReady, await client.SubmitAsync(job, None));
        Assert.Null(await client.GetAsync(job.SubmissionId, None));

        var outcome = RaySubmitOutcome.NotReady;
        await Wall.UntilAsync(async () => (outcome = await client.SubmitAsync(job, None)) != RaySubmitOutcome.NotReady, "the head takes the job");
        Assert.Equal(RaySubmitOutcome.Submitted, outcome);
        Assert.Equal(RayJobStatus.Succeeded, (await EndedAsync(client, job.SubmissionId)).Status);
    }

    [Fact]
    public async Task A_submit_to_a_dashboard_nobody_listens_on_is_NotReady_and_other_calls_throw_without_a_status()
    {
        var port = StandInHead.FreePorts(1)[0];
        var client = StandInHead.Client(new Uri($"http://127.0.0.1:{port}/"));

        Assert.Equal(RaySubmitOutcome.NotReady, await client.SubmitAsync(Job("true"), None));
        var error = await Assert.ThrowsAsync<RayJobApiException>(() => client.GetAsync("any", None));
        Assert.Null(error.StatusCode);
        await Assert.ThrowsAsync<RayJobApiException>(() => client.ListAsync(None));
    }

    [Fact]
    public async Task An_unknown_submission_id_has_no_details_no_log_and_nothing_to_stop()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();

        Assert.Null(await client.GetAsync("no-such-job", None));
        Assert.Equal("", await client.LogsAsync("no-such-job", None));
        Assert.False(await client.StopAsync("no-such-job", None));
    }

    [Fact]
    public async Task List_shows_every_submitted_job()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        Assert.Empty(await client.ListAsync(None));
        var first = Job("true");
        var second = Job("false");
        await client.SubmitAsync(first, None);
        await client.SubmitAsync(second, None);

        await Wall.UntilAsync(async () => (await client.ListAsync(None)).All(j => RayJobStatus.IsTerminal(j.Status)), "both jobs end");
        var jobs = await client.ListAsync(None);

        // Ray promises no order.
        Assert.Equal(
            new[] { $"{first.SubmissionId} {RayJobStatus.Succeeded}", $"{second.SubmissionId} {RayJobStatus.Failed}" }.Order(StringComparer.Ordinal),
            jobs.Select(j => $"{j.SubmissionId} {j.Status}").Order(StringComparer.Ordinal));
        Assert.All(jobs, j => Assert.Equal("SUBMISSION", j.Type));
    }

    [Fact]
    public async Task A_log_longer_than_the_bound_keeps_its_tail_and_says_it_was_cut()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client(maxLogChars: 10_000);
        var job = Job("seq 1 30000; echo END");
        await client.SubmitAsync(job, None);
        await EndedAsync(client, job.SubmissionId);

        var logs = await client.LogsAsync(job.SubmissionId, None);

        var full = await File.ReadAllTextAsync(head.JobLog(job.SubmissionId));
        Assert.True(full.Length > 100_000, $"the log is {full.Length} characters");
        var newline = logs.IndexOf('\n', StringComparison.Ordinal);
        Assert.Equal($"[rayfleet: the log was cut to its last 10000 characters; {full.Length - 10_000} earlier characters were left out]", logs[..newline]);
        Assert.Equal(full[^10_000..], logs[(newline + 1)..]);
        Assert.EndsWith("29999\n30000\nEND\n", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_with_quotes_backslashes_and_non_ASCII_text_come_back_exactly()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();
        var job = Job("""printf 'quote " backslash \\ tab \t slash / ü 😀 \001 end\n'""");
        await client.SubmitAsync(job, None);
        await EndedAsync(client, job.SubmissionId);

        Assert.Equal("quote \" backslash \\ tab \t slash / ü 😀 \u0001 end\n", await client.LogsAsync(job.SubmissionId, None));
    }

    [Fact]
    public async Task A_request_Ray_refuses_for_another_reason_throws_with_the_status_and_Rays_text()
    {
        using var head = await StandInHead.StartAsync();
        var client = head.Client();

        var error = await Assert.ThrowsAsync<RayJobApiException>(() => client.SubmitAsync(Job("true", runtimeEnv: "[1]"), None));

        Assert.Equal(400, error.StatusCode);
        Assert.Contains("runtime_env must be a dict, got <class 'list'>", error.BodyExcerpt, StringComparison.Ordinal);
        Assert.Contains("400", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_submit_body_is_snake_case_and_leaves_out_what_is_not_set()
    {
        var body = RayJobClient.SubmitBody(new RayJobSubmission
        {
            SubmissionId = "s1",
            Entrypoint = "python main.py",
            RuntimeEnvJson = """{"env_vars":{"A":"1"}}""",
            Metadata = new Dictionary<string, string> { ["owner"] = "me" },
            EntrypointNumCpus = 1.5,
            EntrypointMemory = 1024,
        });

        Assert.Equal(
            """{"entrypoint":"python main.py","submission_id":"s1","runtime_env":{"env_vars":{"A":"1"}},"metadata":{"owner":"me"},"entrypoint_num_cpus":1.5,"entrypoint_memory":1024}""",
            body.ToJsonString());
    }
}
