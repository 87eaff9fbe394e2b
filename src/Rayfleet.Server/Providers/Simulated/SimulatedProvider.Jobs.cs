using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers.Simulated;

// Ray's Job Submission API as a simulated head would answer it. Each job is one small file under
// simulated/jobs/<instanceId>/, written at submit and at stop only: its state at any moment follows from the times it
// records and the instance's head (when it became ready, failed or was told to stop), so no thread drives it and it
// outlives a restart of the service as a real head would keep running its jobs.
public sealed partial class SimulatedProvider
{
    /// <summary>The entrypoint's failure in Ray's JobErrorType.</summary>
    public const string EntrypointErrorType = "JOB_ENTRYPOINT_COMMAND_ERROR";

    /// <summary>A job whose head went away in Ray's JobErrorType.</summary>
    public const string SupervisorDiedErrorType = "JOB_SUPERVISOR_ACTOR_DIED";

    // Jobs on each instance's head, counted once from its folder and then kept here, so that a submit writes one new
    // file and nothing else (replacing the instance's file costs a flush on ext4, a millisecond a job).
    private readonly ConcurrentDictionary<string, int> _jobCounts = new(StringComparer.Ordinal);

    public Task<IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken)
    {
        var state = Load(instanceId);
        var now = Now();
        IRayJobApi? api = state is not null && Head(state) is { } head && IsUp(state, head, now) ? new JobApi(this, instanceId) : null;
        return Task.FromResult(api);
    }

    public async Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken)
    {
        var state = Load(instanceId);
        if (state is null) return;
        var now = Now();
        foreach (var node in state.Nodes)
        {
            var log = new StringBuilder();
            var kind = node.Group is null ? "head" : $"worker of group {node.Group}";
            Line(log, node.CreatedAt, "INFO", $"Simulated node {node.Id} ({kind}) created for instance {instanceId}; no Ray process runs on the simulated provider.");
            if (node.FailAt is { } failAt && failAt <= now && failAt <= node.ReadyAt)
                Line(log, failAt, "ERROR", "Node failed before it was ready (simulated failure injected through extraParam).");
            else if (node.ReadyAt <= now)
            {
                Line(log, node.ReadyAt, "INFO", "Node ready: Ray would run here.");
                if (node.FailAt is { } failed && failed <= now)
                    Line(log, failed, "ERROR", "Node failed (simulated failure injected through extraParam).");
            }
            else Line(log, now, "INFO", "Node still starting.");
            foreach (var stop in state.HeadStops.Where(s => s >= node.CreatedAt && s <= now))
                Line(log, stop, "INFO", node.Group is null ? "Stop requested: the head goes away, and the jobs running on it." : "Stop requested.");

            var name = node.Group is null ? "head/simulated-node.log" : $"worker/{node.Id}/simulated-node.log";
            using var content = new MemoryStream(Encoding.UTF8.GetBytes(log.ToString()), writable: false);
            await sink.WriteAsync(name, content, cancellationToken);
        }
    }

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private static NodeState? Head(InstanceState state) => state.Nodes.FirstOrDefault(n => n.Group is null);

    /// <summary>The head is ready, has not failed and is not being stopped.</summary>
    private static bool IsUp(InstanceState state, NodeState head, long now) =>
        head.ReadyAt <= now && !(head.FailAt <= now) && state.RemoveAt is null;

    /// <summary>Every moment the head went or goes away, each with the words Ray's supervisor death would carry.</summary>
    private static List<(long At, string Why)> HeadDeaths(InstanceState state)
    {
        var deaths = state.HeadStops.Select(at => (at, "the head node was stopped")).ToList();
        if (Head(state)?.FailAt is { } failAt) deaths.Add((failAt, "the head node failed (simulated failure injected through extraParam)"));
        return deaths;
    }

    /// <summary>
    /// Ray numbers submitted jobs and drivers with one counter per head: here the jobs and drivers it has had, plus one.
    /// Callers hold the instance's gate.
    /// </summary>
    private int NextJobNumber(InstanceState state)
    {
        var folder = JobsFolder(state.InstanceId);
        var jobs = _jobCounts.GetOrAdd(state.InstanceId, _ => Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.json").Count() : 0);
        return jobs + state.Drivers.Count + 1;
    }

    /// <summary>Keeps at most one connected driver, from the head's start, as the cluster's <c>driverConnected</c> asks.</summary>
    private void ObserveDriver(InstanceState state, bool connected, NodeState head, long now)
    {
        var deaths = HeadDeaths(state);
        foreach (var driver in state.Drivers.Where(d => d.DisconnectedAt is null))
        {
            // A driver whose head went away is gone with it, even if the head was brought back since.
            var died = deaths.Where(d => d.At >= driver.ConnectedAt && d.At <= now).Select(d => (long?)d.At).Min();
            if (died is not null) driver.DisconnectedAt = died;
        }
        var open = state.Drivers.FirstOrDefault(d => d.DisconnectedAt is null);
        if (connected && open is null)
            state.Drivers.Add(new DriverState { JobId = RayJobId(NextJobNumber(state)), ConnectedAt = Math.Max(now, head.ReadyAt) });
        else if (!connected && open is not null)
            // One that never connected keeps its place (and its number) but is never listed.
            open.DisconnectedAt = Math.Max(now, open.ConnectedAt);
    }

    /// <summary>Ray's job ids count up and print as the hex of the little-endian 4 bytes: 1 is <c>01000000</c>.</summary>
    private static string RayJobId(int number)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, number);
        return Convert.ToHexStringLower(bytes);
    }

    private string JobsFolder(string instanceId) => Path.Combine(_root, "jobs", instanceId);

    // Ray takes any string as a submission id; a file name must not leave the folder, so an unusual id is hashed.
    private string JobPath(string instanceId, string submissionId)
    {
        var plain = submissionId.Length is > 0 and <= 128 && submissionId[0] != '.'
            && submissionId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
        var name = plain ? submissionId : "~" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(submissionId)));
        return Path.Combine(JobsFolder(instanceId), name + ".json");
    }

    private void DeleteJobs(string instanceId)
    {
        var folder = JobsFolder(instanceId);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        _jobCounts.TryRemove(instanceId, out _);
    }

    private static JobState? LoadJob(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), StateJson.Default.JobState);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static void WriteJob(string path, JobState job, bool overwrite)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // A unique temporary name: concurrent readers never see half a file, and a move that must not overwrite fails
        // when the job exists, whoever wrote it.
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(job, StateJson.Default.JobState));
        try
        {
            File.Move(temp, path, overwrite);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private InstanceState LoadReachable(string instanceId) =>
        Load(instanceId) ?? throw new HttpRequestException(HttpRequestError.ConnectionError,
            $"The simulated head of instance {instanceId} is gone (as a refused connection to its dashboard).");

    private enum JobEnd
    {
        Exited,
        Stopped,
        HeadDied,
    }

    /// <summary>A job as its head reports it at one moment.</summary>
    private sealed record JobView(JobState Job, string Status, long End, JobEnd Ending, string? DeathReason, bool Started, bool Terminal)
    {
        public static JobView At(JobState job, List<(long At, string Why)> deaths, long now)
        {
            var (end, ending, reason) = (job.EndAt, JobEnd.Exited, (string?)null);
            if (job.StoppedAt is { } stopped && stopped < end) (end, ending) = (stopped, JobEnd.Stopped);
            foreach (var (at, why) in deaths)
                if (at >= job.SubmittedAt && at < end) (end, ending, reason) = (at, JobEnd.HeadDied, why);

            var terminal = end <= now;
            var status = !terminal ? (job.StartAt <= now ? RayJobStatus.Running : RayJobStatus.Pending)
                : ending switch
                {
                    JobEnd.Stopped => RayJobStatus.Stopped,
                    JobEnd.Exited when job.ExitCode == 0 => RayJobStatus.Succeeded,
                    _ => RayJobStatus.Failed,
                };
            return new JobView(job, status, end, ending, reason, Started: job.StartAt <= Math.Min(now, end), terminal);
        }

        /// <summary>The driver's log: what the supervisor and the entrypoint would have written by now.</summary>
        public string Log(bool withEnd = true)
        {
            var log = new StringBuilder();
            Line(log, Job.SubmittedAt, "INFO", $"Job {Job.SubmissionId} submitted; runtime env is setting up (simulated: no Ray process runs).");
            if (Started) Line(log, Job.StartAt, "INFO", $"Running entrypoint for job {Job.SubmissionId}: {Job.Entrypoint}");
            if (Terminal && withEnd)
            {
                switch (Ending)
                {
                    case JobEnd.Exited:
                        Line(log, End, Job.ExitCode == 0 ? "INFO" : "ERROR", $"Job {Job.SubmissionId} finished: the entrypoint exited with code {Job.ExitCode} ({Status}).");
                        break;
                    case JobEnd.Stopped:
                        Line(log, End, "INFO", $"Job {Job.SubmissionId} was stopped: SIGTERM sent to the driver ({Status}).");
                        break;
                    default:
                        Line(log, End, "ERROR", $"{Message} ({Status}).");
                        break;
                }
            }
            return log.ToString();
        }

        public string Message => Status switch
        {
            RayJobStatus.Pending => "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available. It may be waiting for the runtime environment to be set up.",
            RayJobStatus.Running => "Job is currently running.",
            RayJobStatus.Succeeded => "Job finished successfully.",
            RayJobStatus.Stopped => "Job was intentionally stopped.",
            _ when Ending == JobEnd.HeadDied => $"Job supervisor actor died: {DeathReason}.",
            _ => $"Job entrypoint command failed with exit code {Job.ExitCode}, last available logs (truncated to 20,000 chars):\n{Log(withEnd: false)}",
        };

        public RayJobDetails Details() => new()
        {
            Type = "SUBMISSION",
            JobId = Started ? Job.JobId : null,
            SubmissionId = Job.SubmissionId,
            Status = Status,
            Message = Message,
            ErrorType = Status != RayJobStatus.Failed ? null : Ending == JobEnd.HeadDied ? SupervisorDiedErrorType : EntrypointErrorType,
            // Ray stamps start_time at submission (the job is PENDING from then), not when the entrypoint starts.
            StartTime = Job.SubmittedAt,
            EndTime = Terminal ? End : null,
            DriverExitCode = Terminal && Ending == JobEnd.Exited ? Job.ExitCode : null,
        };
    }

    private static void Line(StringBuilder log, long at, string level, string text) =>
        log.Append(DateTimeOffset.FromUnixTimeMilliseconds(at).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture))
            .Append('\t').Append(level).Append(" simulated -- ").Append(text).Append('\n');

    private static RayJobDetails DriverDetails(DriverState driver, List<(long At, string Why)> deaths, long now)
    {
        var end = driver.DisconnectedAt ?? long.MaxValue;
        foreach (var (at, _) in deaths)
            if (at >= driver.ConnectedAt && at < end) end = at;
        // Ray reports a driver that is gone as SUCCEEDED, however it went.
        return new RayJobDetails
        {
            Type = "DRIVER",
            JobId = driver.JobId,
            Status = end <= now ? RayJobStatus.Succeeded : RayJobStatus.Running,
            StartTime = driver.ConnectedAt,
            EndTime = end <= now ? end : null,
        };
    }

    private sealed class JobApi(SimulatedProvider provider, string instanceId) : IRayJobApi
    {
        public async Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken)
        {
            using (await provider._gates.EnterAsync(instanceId, cancellationToken))
            {
                var state = provider.Load(instanceId);
                var now = provider.Now();
                // Ray's "No available agent to submit job" (or no dashboard at all): the caller tries again later.
                if (state is null || Head(state) is not { } head || !IsUp(state, head, now) || now < head.ReadyAt + state.AgentDelayMs)
                    return RaySubmitOutcome.NotReady;

                var path = provider.JobPath(instanceId, submission.SubmissionId);
                if (File.Exists(path)) return RaySubmitOutcome.AlreadySubmitted;

                var options = provider._options;
                var behaviour = SimulatedJobBehaviour.From(submission.ExtraParam).Or(state.JobDefaults);
                var startAt = now + Milliseconds(behaviour.PendingSeconds, options.JobPendingTime);
                var number = provider.NextJobNumber(state);
                var job = new JobState
                {
                    SubmissionId = submission.SubmissionId,
                    JobId = RayJobId(number),
                    Entrypoint = submission.Entrypoint,
                    SubmittedAt = now,
                    StartAt = startAt,
                    EndAt = startAt + Milliseconds(behaviour.RunSeconds, options.JobRunTime),
                    ExitCode = behaviour.ExitCode ?? 0,
                };
                try
                {
                    WriteJob(path, job, overwrite: false);
                }
                catch (IOException) when (File.Exists(path))
                {
                    return RaySubmitOutcome.AlreadySubmitted;
                }
                provider._jobCounts[instanceId] = number - state.Drivers.Count;
                return RaySubmitOutcome.Submitted;
            }
        }

        public Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken)
        {
            var state = provider.LoadReachable(instanceId);
            var job = LoadJob(provider.JobPath(instanceId, submissionId));
            return Task.FromResult(job is null ? null : JobView.At(job, HeadDeaths(state), provider.Now()).Details());
        }

        public async Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken)
        {
            using (await provider._gates.EnterAsync(instanceId, cancellationToken))
            {
                var state = provider.LoadReachable(instanceId);
                var path = provider.JobPath(instanceId, submissionId);
                if (LoadJob(path) is not { } job) return false;
                var now = provider.Now();
                if (JobView.At(job, HeadDeaths(state), now).Terminal) return false;
                job.StoppedAt = now;
                WriteJob(path, job, overwrite: true);
                return true;
            }
        }

        public Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken)
        {
            var state = provider.LoadReachable(instanceId);
            var job = LoadJob(provider.JobPath(instanceId, submissionId));
            return Task.FromResult(job is null ? "" : JobView.At(job, HeadDeaths(state), provider.Now()).Log());
        }

        public Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken)
        {
            var state = provider.LoadReachable(instanceId);
            var now = provider.Now();
            var deaths = HeadDeaths(state);
            List<JobState> stored;
            try
            {
                stored = [.. Directory.EnumerateFiles(provider.JobsFolder(instanceId), "*.json").Select(LoadJob).OfType<JobState>()];
            }
            catch (DirectoryNotFoundException)
            {
                // No job yet, or a removal took the folder away just now.
                stored = [];
            }
            var jobs = stored.OrderBy(j => j.SubmittedAt).ThenBy(j => j.SubmissionId, StringComparer.Ordinal)
                .Select(j => JobView.At(j, deaths, now).Details());
            var drivers = state.Drivers.Where(d => d.ConnectedAt <= now && !(d.DisconnectedAt <= d.ConnectedAt)).Select(d => DriverDetails(d, deaths, now));
            return Task.FromResult<IReadOnlyList<RayJobDetails>>([.. jobs, .. drivers]);
        }

        private static long Milliseconds(double? seconds, TimeSpan fallback) =>
            (long)(seconds is { } s ? s * 1000 : fallback.TotalMilliseconds);
    }

    private sealed class JobState
    {
        public required string SubmissionId { get; set; }
        public required string JobId { get; set; }
        public required string Entrypoint { get; set; }
        public long SubmittedAt { get; set; }
        public long StartAt { get; set; }
        /// <summary>When the entrypoint exits unless the job is stopped or its head goes first.</summary>
        public long EndAt { get; set; }
        public int ExitCode { get; set; }
        public long? StoppedAt { get; set; }
    }

    private sealed class DriverState
    {
        public required string JobId { get; set; }
        public long ConnectedAt { get; set; }
        public long? DisconnectedAt { get; set; }
    }
}
