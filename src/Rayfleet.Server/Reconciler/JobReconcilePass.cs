using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Api;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// One reconcile of one Ray job, in the manner of KubeRay's RayJob controller: wait for the job's cluster, submit the
/// job to Ray's Job API under its submission id (so a submit repeated after a crash never runs it twice), follow what
/// Ray reports, keep a copy of the driver log, stop the job on cancel or past its deadline, and delete a job-mode
/// cluster <c>ttlSecondsAfterFinished</c> after the job ended. Every step is safe to repeat.
/// </summary>
public sealed partial class JobReconcilePass(
    RayfleetDbContext db,
    IProviderRegistry providers,
    IJobLogWriter logs,
    Catalogs catalogs,
    TimeProvider time,
    IOptions<RayfleetOptions> options,
    ILogger<JobReconcilePass> logger)
{
    /// <summary>How soon to look again at a job whose head cannot take it yet ("no available agent").</summary>
    private static readonly TimeSpan NotReadyRetry = TimeSpan.FromMilliseconds(500);

    private readonly TimeSpan _poll = options.Value.Reconciler.JobPollInterval;

    public async Task<PassResult> RunAsync(string jobId, CancellationToken ct)
    {
        var job = await db.Jobs.FirstOrDefaultAsync(j => j.Id == jobId, ct);
        if (job is null) return PassResult.Done;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["WorkspaceId"] = job.WorkspaceId });
        job.ObservedGeneration = job.Generation;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var cluster = await db.Clusters.FirstOrDefaultAsync(c => c.Id == job.ClusterId, ct);

        if (JobStatus.IsTerminal(job.Status)) return await AfterEndAsync(job, cluster, now, ct);

        var deadlinePassed = job.DeadlineAt is { } deadline && now >= deadline;
        var provider = providers.Get(job.Provider);
        var stopWanted = job.CancelRequested || deadlinePassed;

        if (cluster is null || cluster.Deleted)
        {
            job.ClusterState = JobClusterState.Deleted;
            return await EndAsync(job, cluster, now, StoppedStatus(job, deadlinePassed, job.RaySubmitted ? JobStatus.Failed : null),
                stopWanted ? StopMessage(deadlinePassed) : "The job's cluster was deleted before the job ended.", ct);
        }

        var clusterStatus = ClusterStatusView.Of(cluster);
        job.ClusterState = clusterStatus.State switch
        {
            ClusterState.Running => JobClusterState.Running,
            _ when cluster.State is null => JobClusterState.Submitted,
            _ => JobClusterState.Pending,
        };

        if (!job.RaySubmitted)
        {
            if (stopWanted)
                return await EndAsync(job, cluster, now, deadlinePassed ? JobStatus.Timeout : JobStatus.Cancelled, StopMessage(deadlinePassed) + " It had not started.", ct);
            if (clusterStatus.State is ClusterState.Stopped or ClusterState.Stopping or ClusterState.Error)
                return await EndAsync(job, cluster, now, JobStatus.Failed,
                    $"The job's cluster is {clusterStatus.State} and will not run it" + (clusterStatus.Message is { Length: > 0 } m ? $": {m}" : "."), ct);
            if (clusterStatus.State != ClusterState.Running)
            {
                job.Status = JobStatus.Pending;
                job.Message = "Waiting for the job's cluster to run" + (clusterStatus.Message is { Length: > 0 } m ? $": {m}" : ".");
                await db.SaveChangesAsync(ct);
                return new PassResult(UntilDeadline(job, now), []); // the cluster's passes wake the job when its state changes
            }

            var head = await provider.JobApiAsync(cluster.InstanceId!, ct);
            var outcome = head is null ? RaySubmitOutcome.NotReady : await head.SubmitAsync(JobSubmissions.For(job), ct);
            if (outcome == RaySubmitOutcome.NotReady)
            {
                job.Status = JobStatus.Pending;
                job.Message = "Waiting for the head's job agent to take the job.";
                await db.SaveChangesAsync(ct);
                return new PassResult(Min(NotReadyRetry, UntilDeadline(job, now)), []);
            }
            job.RaySubmitted = true;
            job.Status = JobStatus.Pending;
            LogSubmitted(logger, job.Id, cluster.Id, outcome);
            // Committed before the job is followed: a restart from here on follows this submission, never submits anew.
            await db.SaveChangesAsync(ct);
        }

        var api = await provider.JobApiAsync(cluster.InstanceId!, ct);
        if (api is null)
        {
            // Submitted, but the head is not reachable now (restarting, or the cluster was stopped under the job).
            if (clusterStatus.State is ClusterState.Stopped or ClusterState.Stopping or ClusterState.Error)
                return await EndAsync(job, cluster, now, StoppedStatus(job, deadlinePassed, JobStatus.Failed),
                    stopWanted ? StopMessage(deadlinePassed) : $"The job's cluster is {clusterStatus.State}; the job ended with it.", ct);
            await db.SaveChangesAsync(ct);
            return new PassResult(Min(_poll, UntilDeadline(job, now)), []);
        }

        var details = await api.GetAsync(job.Id, ct);
        if (details is null)
            return await EndAsync(job, cluster, now, StoppedStatus(job, deadlinePassed, JobStatus.Failed),
                "Ray no longer knows the job: its head was restarted, and a head without GCS fault tolerance forgets its jobs.", ct);

        // KubeRay marks a RayJob past its own deadline Failed (DeadlineExceeded) without stopping Ray's job.
        if (details.ErrorType == DeadlineExceeded)
        {
            (deadlinePassed, stopWanted) = (true, true);
            details = details with { Status = RayJobStatus.Running };
        }
        if (stopWanted && !RayJobStatus.IsTerminal(details.Status))
        {
            await api.StopAsync(job.Id, ct);
            details = await api.GetAsync(job.Id, ct) ?? details;
        }
        // Read again, the RayJob still says Failed (DeadlineExceeded): KubeRay no longer follows a RayJob it ended. Its
        // job was stopped for its deadline, which is a Timeout, not a Failed.
        if (details.ErrorType == DeadlineExceeded) details = details with { Status = RayJobStatus.Stopped };

        await CopyDriverLogAsync(job, api, ct);
        var status = JobStatus.FromRay(details.Status, stopWanted, deadlinePassed);
        if (details.Status != RayJobStatus.Pending && job.StartTime is null)
        {
            job.StartTime = details.StartTime is > 0 ? details.StartTime : now;
            var meter = ClusterUsage.Current(cluster, catalogs, now);
            (job.UsageCuMsAtStart, job.UsageGpuMsAtStart) = job.OwnsCluster ? (0m, 0m) : (meter.CuMs, meter.GpuMs);
        }
        if (JobStatus.IsTerminal(status))
        {
            var message = status is JobStatus.Timeout or JobStatus.Cancelled && stopWanted ? StopMessage(deadlinePassed) : details.Message;
            return await EndAsync(job, cluster, details.EndTime is > 0 ? details.EndTime.Value : now, status, message, ct);
        }

        job.Status = status;
        job.Message = details.Message;
        job.DashboardUrl = cluster.DashboardUrl;
        ChargeUsage(job, cluster, now);
        await db.SaveChangesAsync(ct);
        return new PassResult(Min(status == JobStatus.Cancelling ? NotReadyRetry : _poll, UntilDeadline(job, now)), []);
    }

    /// <summary>A finished job: its job-mode cluster goes <c>ttlSecondsAfterFinished</c> after the end, its record stays.</summary>
    private async Task<PassResult> AfterEndAsync(JobRow job, ClusterRow? cluster, long now, CancellationToken ct)
    {
        if (cluster is null || cluster.Deleted)
        {
            if (job.ClusterState != JobClusterState.Deleted)
            {
                job.ClusterState = JobClusterState.Deleted;
                job.DashboardUrl = null; // its dashboard went with it (Rayfleet keeps no history UI)
                await db.SaveChangesAsync(ct);
            }
            return PassResult.Done;
        }
        var spec = JobSubmissions.Spec(job);
        if (!job.OwnsCluster || spec.ShutdownAfterJobFinishes == false) return PassResult.Done;

        // A job stopped before it reached Ray has nothing for the TTL to keep, and its cluster must not outlive it: a
        // KubeRay RayJob submits its entrypoint on its own once its cluster is ready, which would run the cancelled job.
        var stoppedUnsubmitted = !job.RaySubmitted && job.Status is JobStatus.Cancelled or JobStatus.Timeout;
        var deleteAt = (job.EndTime ?? now) + (stoppedUnsubmitted ? 0 : spec.TtlSecondsAfterFinished ?? 0) * 1000L;
        if (now < deleteAt) return new PassResult(TimeSpan.FromMilliseconds(deleteAt - now), []);

        // Its node logs are kept and its last charge is taken now; the cluster's own pass removes it.
        await CollectNodeLogsAsync(job, cluster, ct);
        ChargeUsage(job, cluster, now);
        cluster.Deleted = true;
        cluster.DesiredRunning = false;
        cluster.Generation++;
        cluster.ModifiedTime = now;
        job.ClusterState = JobClusterState.Deleted;
        job.DashboardUrl = null;
        await db.SaveChangesAsync(ct);
        LogClusterDeleted(logger, job.Id, cluster.Id);
        return new PassResult(null, [cluster.Id]);
    }

    private async Task<PassResult> EndAsync(JobRow job, ClusterRow? cluster, long endTime, string status, string? message, CancellationToken ct)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        job.Status = status;
        job.Message = message;
        job.EndTime = endTime;
        if (cluster is not null && !cluster.Deleted)
        {
            ChargeUsage(job, cluster, now);
            // A job-mode cluster that stays after its job: its node logs as they were when the job ended.
            if (JobSubmissions.Spec(job).ShutdownAfterJobFinishes == false) await CollectNodeLogsAsync(job, cluster, ct);
        }
        await db.SaveChangesAsync(ct);
        LogEnded(logger, job.Id, status, message);
        // Looked at again for what follows the end: the TTL of a job-mode cluster.
        return new PassResult(job.OwnsCluster ? TimeSpan.Zero : null, cluster is null ? [] : [cluster.Id]);
    }

    private async Task CopyDriverLogAsync(JobRow job, IRayJobApi api, CancellationToken ct)
    {
        var text = await api.LogsAsync(job.Id, ct);
        var bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        if (bytes == job.DriverLogBytes && bytes > 0) return;
        try
        {
            await logs.WriteDriverLogAsync(job.WorkspaceId, job.Id, text, ct);
            job.DriverLogBytes = bytes;
        }
        catch (LogStoreException ex)
        {
            // A full disk must not stop the job from being followed: the copy is tried again at the next look.
            LogDriverLogFailed(logger, ex, job.Id, ex.Failure);
        }
    }

    /// <summary>
    /// A job-mode cluster's whole meter is the job's; a job on a shared cluster is charged what the cluster used while
    /// the job ran.
    /// </summary>
    private void ChargeUsage(JobRow job, ClusterRow cluster, long now)
    {
        if (!job.OwnsCluster && job.StartTime is null) return;
        var meter = ClusterUsage.Current(cluster, catalogs, now);
        job.UsageCuMs = Math.Max(0, meter.CuMs - (job.UsageCuMsAtStart ?? 0));
        job.UsageGpuMs = Math.Max(0, meter.GpuMs - (job.UsageGpuMsAtStart ?? 0));
        job.GpuSpec ??= job.UsageGpuMs > 0 ? ClusterUsage.GpuSpec(ClusterSpec.FromJson(cluster.SpecJson)) : null;
    }

    private const string DeadlineExceeded = "DeadlineExceeded";

    /// <summary>
    /// Copies the node logs of a job-mode cluster into the job's log folder before its nodes go; a failure is logged
    /// and does not keep the cluster (a full disk must not leak nodes).
    /// </summary>
    private async Task CollectNodeLogsAsync(JobRow job, ClusterRow cluster, CancellationToken ct)
    {
        if (!job.OwnsCluster || cluster.InstanceId is null) return;
        try
        {
            await providers.Get(cluster.Provider).CollectNodeLogsAsync(cluster.InstanceId, logs.NodeLogs(job.WorkspaceId, job.Id), ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            LogNodeLogsFailed(logger, ex, job.Id, cluster.Id);
        }
    }

    private static string StoppedStatus(JobRow job, bool deadlinePassed, string? otherwise) =>
        deadlinePassed ? JobStatus.Timeout : job.CancelRequested ? JobStatus.Cancelled : otherwise ?? JobStatus.Failed;

    private static string StopMessage(bool deadlinePassed) =>
        deadlinePassed ? "The job ran past its activeDeadlineSeconds and was stopped." : "The job was cancelled.";

    private static TimeSpan? UntilDeadline(JobRow job, long now) =>
        job.DeadlineAt is { } deadline ? TimeSpan.FromMilliseconds(Math.Max(0, deadline - now)) : null;

    private static TimeSpan Min(TimeSpan a, TimeSpan? b) => b is { } x && x < a ? x : a;

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} submitted to Ray on cluster {ClusterId} ({Outcome})")]
    private static partial void LogSubmitted(ILogger logger, string jobId, string clusterId, RaySubmitOutcome outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} ended {Status}: {Message}")]
    private static partial void LogEnded(ILogger logger, string jobId, string status, string? message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Copying the driver log of job {JobId} failed ({Failure}); trying again at the next look")]
    private static partial void LogDriverLogFailed(ILogger logger, Exception ex, string jobId, LogStoreFailure failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Copying the node logs of job {JobId}'s cluster {ClusterId} failed; the cluster goes without them")]
    private static partial void LogNodeLogsFailed(ILogger logger, Exception ex, string jobId, string clusterId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} finished; deleting its cluster {ClusterId}")]
    private static partial void LogClusterDeleted(ILogger logger, string jobId, string clusterId);
}
