using System.Collections.Concurrent;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Simulated;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>
/// The simulated provider, except that each instance's head answers Ray's Job API from a <see cref="FakeRayHead"/>
/// the test drives: jobs run until the test finishes them, and every call is recorded.
/// </summary>
internal sealed class FakeRayHeads(SimulatedProvider inner) : IClusterProvider
{
    public readonly ConcurrentDictionary<string, FakeRayHead> Heads = new(StringComparer.Ordinal);

    public string Name => inner.Name;

    /// <summary>The head of the cluster's current instance (there is one head per instance).</summary>
    public FakeRayHead HeadOf(string clusterId) =>
        Heads.Where(h => h.Key.StartsWith(clusterId + "-", StringComparison.Ordinal)).Select(h => h.Value).Single();

    public Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken) => inner.ApplyAsync(request, cancellationToken);

    public Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken) => inner.RemoveAsync(instanceId, cancellationToken);

    public Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken) => inner.ListInstancesAsync(clusterId, cancellationToken);

    public Task<IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken) =>
        Task.FromResult<IRayJobApi?>(Heads.GetOrAdd(instanceId, _ => new FakeRayHead()));

    public Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken) =>
        sink.WriteAsync("head/raylet.out", new MemoryStream(System.Text.Encoding.UTF8.GetBytes("node log of " + instanceId + "\n")), cancellationToken);
}

/// <summary>One head's Job API: submitted jobs start RUNNING and stay so until the test ends them.</summary>
internal sealed class FakeRayHead : IRayJobApi
{
    private readonly ConcurrentDictionary<string, RayJobDetails> _jobs = new(StringComparer.Ordinal);

    /// <summary>How many times each entrypoint was started: a duplicate submit must not start it again.</summary>
    public readonly ConcurrentDictionary<string, int> Runs = new(StringComparer.Ordinal);

    public readonly ConcurrentQueue<RayJobSubmission> Submissions = new();
    public readonly ConcurrentQueue<string> Stops = new();

    /// <summary>Answers NotReady (no available agent) this many more times.</summary>
    public int NotReadyAnswers;

    /// <summary>Takes the next submit, then fails as if the answer was lost on the way back (a crash after Ray had it).</summary>
    public bool LoseNextSubmitAnswer;

    /// <summary>Drivers Ray reports (interactive ray.init sessions), for idle stop.</summary>
    public readonly ConcurrentDictionary<string, string> Drivers = new(StringComparer.Ordinal);

    public Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken)
    {
        if (Interlocked.Decrement(ref NotReadyAnswers) >= 0) return Task.FromResult(RaySubmitOutcome.NotReady);
        Submissions.Enqueue(submission);
        if (!_jobs.TryAdd(submission.SubmissionId, new RayJobDetails { Type = "SUBMISSION", SubmissionId = submission.SubmissionId, Status = RayJobStatus.Running }))
            return Task.FromResult(RaySubmitOutcome.AlreadySubmitted);
        Runs.AddOrUpdate(submission.SubmissionId, 1, (_, n) => n + 1);
        if (LoseNextSubmitAnswer)
        {
            LoseNextSubmitAnswer = false;
            throw new HttpRequestException("connection reset after the head took the job");
        }
        return Task.FromResult(RaySubmitOutcome.Submitted);
    }

    public Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken) =>
        Task.FromResult(_jobs.TryGetValue(submissionId, out var j) ? j : null);

    public Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken)
    {
        Stops.Enqueue(submissionId);
        if (!_jobs.TryGetValue(submissionId, out var job) || RayJobStatus.IsTerminal(job.Status)) return Task.FromResult(false);
        _jobs[submissionId] = job with { Status = RayJobStatus.Stopped, Message = "Job was intentionally stopped." };
        return Task.FromResult(true);
    }

    public Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken) =>
        Task.FromResult(_jobs.ContainsKey(submissionId) ? $"driver of {submissionId}\n" : "");

    public Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<RayJobDetails>>(
            [.. _jobs.Values, .. Drivers.Keys.Select(id => new RayJobDetails { Type = "DRIVER", JobId = id, Status = RayJobStatus.Running })]);

    /// <summary>Ends a job as Ray would report it.</summary>
    public void Finish(string submissionId, string status, string message, int exitCode = 0) =>
        _jobs[submissionId] = _jobs[submissionId] with { Status = status, Message = message, DriverExitCode = exitCode };
}
