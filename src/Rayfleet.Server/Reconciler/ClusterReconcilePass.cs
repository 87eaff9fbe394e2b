using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// One reconcile of one cluster: read the row, act on the provider, write what was observed. Every step is safe to
/// repeat, so a pass cut short by a crash is simply run again after the restart.
/// </summary>
public sealed partial class ClusterReconcilePass(
    RayfleetDbContext db,
    IProviderRegistry providers,
    QueueAdmissionService admission,
    Catalogs catalogs,
    ProviderRequestBuilder requests,
    IOptions<RayfleetOptions> options,
    TimeProvider time,
    ILogger<ClusterReconcilePass> logger)
{
    private readonly TimeSpan _poll = options.Value.Reconciler.PollInterval;

    /// <summary>
    /// Runs the pass, and wakes the jobs waiting on the cluster when its state changed (a job follows its cluster from
    /// Pending to submission without polling it).
    /// </summary>
    public async Task<PassResult> RunAsync(string clusterId, CancellationToken ct)
    {
        var result = await ReconcileAsync(clusterId, ct);
        if (_row is null || _row.State == _stateBefore) return result;
        var jobs = await UnfinishedJobsQuery(db, clusterId).ToListAsync(ct);
        return jobs.Count == 0 ? result : result with { Wake = [.. result.Wake, .. jobs] };
    }

    // A pass's queries, translated once: thousands of passes a second would otherwise each pay EF's expression
    // funcletizing and query-cache lookup.
    private static readonly Func<RayfleetDbContext, string, CancellationToken, Task<ClusterRow?>> RowQuery =
        EF.CompileAsyncQuery((RayfleetDbContext db, string clusterId, CancellationToken ct) => db.Clusters.FirstOrDefault(c => c.Id == clusterId));

    private static readonly Func<RayfleetDbContext, string, IAsyncEnumerable<string>> UnfinishedJobsQuery =
        EF.CompileAsyncQuery((RayfleetDbContext db, string clusterId) => db.Jobs.AsNoTracking()
            .Where(j => j.ClusterId == clusterId && j.Status != JobStatus.Succeeded && j.Status != JobStatus.Failed
                        && j.Status != JobStatus.Cancelled && j.Status != JobStatus.Timeout)
            .Select(j => j.Id));

    private ClusterRow? _row;
    private string? _stateBefore;

    /// <summary>
    /// Reads the desired half of the row, acts, and writes the observed half in one commit at the end, stamped with
    /// the generation it acted on (a change the API committed meanwhile makes the save fail, and the pass runs again).
    /// A pass that changes what admission granted commits that and comes back at once to act on it.
    /// </summary>
    private async Task<PassResult> ReconcileAsync(string clusterId, CancellationToken ct)
    {
        var row = await RowQuery(db, clusterId, ct);
        if (row is null) return PassResult.Done;
        (_row, _stateBefore) = (row, row.State);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["ClusterId"] = row.Id, ["WorkspaceId"] = row.WorkspaceId });
        var provider = providers.Get(row.Provider);

        if (row.Deleted) return await FinishDeleteAsync(row, provider, ct);
        row.ObservedGeneration = row.Generation;
        if (!row.DesiredRunning) return await StopAsync(row, provider, ct);

        var spec = ClusterSpec.FromJson(row.SpecJson);
        if (row.ObservedInstanceId != row.InstanceId || row.RunSpecJson is null)
        {
            // The new instance a Create or Start asked for: it runs the spec as it is now.
            row.ObservedInstanceId = row.InstanceId;
            row.RunSpecJson = row.SpecJson;
            row.Modified = false;
            row.State = ClusterState.Starting;
            row.Message = ClusterState.WaitingMessage;
            row.LastBusyAt = Now();
            ClearNodes(row);
        }
        else
        {
            // Scaling, names and autoscaling settings reach the running instance; the rest waits for a Start.
            var live = ClusterSpec.FromJson(row.RunSpecJson).WithLiveFieldsFrom(spec);
            row.RunSpecJson = live.ToJson();
            row.Modified = live.NeedsRestartToMatch(spec);
        }
        if (row.State == ClusterState.Error)
        {
            await db.SaveChangesAsync(ct);
            return Settle(PassResult.Done, provider); // stays until Stop, Start or Delete
        }

        var runSpec = ClusterSpec.FromJson(row.RunSpecJson);
        var release = catalogs.FindRelease(runSpec.DisplayReleaseVersion);
        if (release is null)
        {
            row.State = ClusterState.Error;
            row.Message = $"Release version '{runSpec.DisplayReleaseVersion}' is no longer in the catalogue. Update the cluster to a listed version and start it again.";
            await db.SaveChangesAsync(ct);
            return Settle(PassResult.Done, provider);
        }

        var admitted = Replicas(row.AdmittedReplicasJson);
        string? scaleMessage = null;
        var target = TargetReplicas(runSpec, admitted);
        if (admitted is null || !SameCounts(admitted, target))
        {
            using var lease = await admission.DecideAsync(db, row, runSpec, target, ct);
            var decision = lease.Decision;
            if (admitted is null)
            {
                row.State = decision.Verdict == AdmissionVerdict.NeverFits ? ClusterState.Error : ClusterState.Starting;
                row.Message = decision.Admitted ? "Admitted; starting the nodes." : decision.Message;
                await db.SaveChangesAsync(ct);
                lease.Committed();
                if (!decision.Admitted)
                {
                    LogWaiting(logger, row.Id, decision.Message);
                    return PassResult.Done; // a release of capacity wakes it, and so does every resync
                }
                // No need to wake those behind it: they wait only for capacity that this one now holds.
                LogAdmitted(logger, row.Id);
                return new PassResult(TimeSpan.Zero, []);
            }
            if (decision.Admitted)
            {
                await db.SaveChangesAsync(ct);
                lease.Committed();
                return new PassResult(TimeSpan.Zero, IsShrink(admitted, target) ? await WaitingInAsync(row.WorkspaceId, ct) : []);
            }
            scaleMessage = ScaleUpMessage(decision);
        }
        var granted = Replicas(row.AdmittedReplicasJson)!;

        var observation = await provider.ApplyAsync(await requests.BuildAsync(row, runSpec, granted, release, ct), ct);

        // After the apply, so that a provider which reuses what an earlier instance left (a suspended RayCluster)
        // has taken it over before the rest of that instance is removed.
        // Only an instance of a Start can have predecessors (a Create's first instance has none, and its start time is
        // its create time): listing a provider's instances costs as much as there are clusters.
        if (row.State == ClusterState.Starting && row.StartTime != row.CreateTime)
            await RemoveEarlierInstancesAsync(provider, row, ct);

        var requeue = observation.RequeueAfter;
        var wake = new List<string>();
        AdmissionLease? autoscale = null;
        try
        {
            if (runSpec.Head.EnableAutoScaling && observation.Phase != ObservedPhase.Failed)
            {
                var wanted = runSpec.Workers.ToDictionary(
                    g => g.GroupName,
                    g => Math.Clamp(observation.WantedReplicas.TryGetValue(g.GroupName, out var w) ? w : granted.GetValueOrDefault(g.GroupName, g.MinReplica), g.MinReplica, g.MaxReplica),
                    StringComparer.Ordinal);
                if (!SameCounts(wanted, granted))
                {
                    autoscale = await admission.DecideAsync(db, row, runSpec, wanted, ct);
                    if (autoscale.Decision.Admitted)
                    {
                        requeue = TimeSpan.Zero; // apply the new size now
                        if (IsShrink(granted, wanted)) wake.AddRange(await WaitingInAsync(row.WorkspaceId, ct));
                    }
                    else
                    {
                        scaleMessage = ScaleUpMessage(autoscale.Decision);
                    }
                }
            }

            row.State = observation.Phase switch
            {
                ObservedPhase.Failed => ClusterState.Error,
                ObservedPhase.Ready => ClusterState.Running,
                // Like KubeRay's RayClusterProvisioned condition, Running latches for the instance: new workers of a
                // scale-up are reported in instances[] without taking the cluster back to Starting.
                _ when row.State == ClusterState.Running => ClusterState.Running,
                _ => ClusterState.Starting,
            };
            row.Message = observation.Phase == ObservedPhase.Failed ? observation.Message : scaleMessage ?? observation.Message;
            ClusterUsage.Observe(row, JsonSerializer.Serialize(observation.Nodes.Select(ToDto).ToList(), WireJson.Default.ListRayNodeDto), catalogs, Now());
            row.DashboardUrl = observation.Endpoints.DashboardUrl;
            row.JobUrl = observation.Endpoints.JobUrl;
            row.JobUrlInner = observation.Endpoints.JobUrlInner;
            row.GrpcEndpoint = observation.Endpoints.GrpcEndpoint;
            if (row.State == ClusterState.Running && await IdleStopAsync(row, runSpec, provider, ct) is { } idleCheck)
                requeue = requeue is { } r && r < idleCheck ? r : idleCheck;
            await db.SaveChangesAsync(ct);
            autoscale?.Committed();
        }
        finally
        {
            autoscale?.Dispose();
        }
        var result = new PassResult(row.State == ClusterState.Error ? null : requeue, wake);
        // Running with nothing to look at again and no scale-up waiting for capacity: only a change can need a pass.
        return requeue is null && scaleMessage is null && row.State is ClusterState.Running or ClusterState.Error ? Settle(result, provider) : result;
    }

    /// <summary>
    /// Marks a result that leaves the cluster settled when its provider reports changes on its own
    /// (<see cref="IClusterChangeSource"/>): the periodic resync then leaves it to those reports.
    /// </summary>
    private static PassResult Settle(PassResult result, IClusterProvider provider) =>
        provider is IClusterChangeSource ? result with { Settled = true } : result;

    /// <summary>
    /// Idle stop (README, "Idle stop"): a running cluster whose <c>extraParam.idleStopSeconds</c> is set is stopped
    /// once that long passed with no job Rayfleet still has to run there and nothing running as Ray reports it (its
    /// Job API lists submitted jobs and connected drivers). Returns when to look again; null without idle stop.
    /// </summary>
    private async Task<TimeSpan?> IdleStopAsync(ClusterRow row, ClusterSpec runSpec, IClusterProvider provider, CancellationToken ct)
    {
        if (ClusterExtensions.IdleStopSeconds(runSpec.ExtraParam) is not { } idleSeconds) return null;
        var now = Now();
        var busy = await UnfinishedJobsQuery(db, row.Id).AnyAsync(ct);
        if (!busy)
        {
            var head = await provider.JobApiAsync(row.InstanceId!, ct);
            // A head that cannot be asked is not known to be idle.
            busy = head is null || (await head.ListAsync(ct)).Any(j => j.Status is RayJobStatus.Pending or RayJobStatus.Running);
        }
        if (busy || row.LastBusyAt is null)
        {
            row.LastBusyAt = now;
            return TimeSpan.FromSeconds(Math.Min(idleSeconds, IdleCheckInterval.TotalSeconds));
        }
        var idleFor = now - row.LastBusyAt.Value;
        if (idleFor < idleSeconds * 1000L)
            return TimeSpan.FromMilliseconds(Math.Min(idleSeconds * 1000L - idleFor, IdleCheckInterval.TotalMilliseconds));

        // A standing request of the cluster's owner, carried out like their Stop: the desired half changes.
        row.DesiredRunning = false;
        row.Generation++;
        row.StopReason = $"Stopped after {idleSeconds} s with no running job and no connected driver (extraParam.idleStopSeconds).";
        LogIdleStop(logger, row.Id, idleSeconds);
        return TimeSpan.Zero;
    }

    /// <summary>How often an idle-stop cluster asks Ray whether anything runs.</summary>
    private static readonly TimeSpan IdleCheckInterval = TimeSpan.FromSeconds(30);

    private long Now() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private void ClearNodes(ClusterRow row)
    {
        ClusterUsage.Observe(row, "[]", catalogs, Now());
        row.DashboardUrl = row.JobUrl = row.JobUrlInner = row.GrpcEndpoint = null;
    }

    private static string ScaleUpMessage(AdmissionDecision decision) =>
        "Scale-up " + char.ToLowerInvariant(decision.Message[0]) + decision.Message[1..] + " The cluster keeps running at its current size meanwhile.";

    private async Task<PassResult> FinishDeleteAsync(ClusterRow row, IClusterProvider provider, CancellationToken ct)
    {
        // The tombstone stays until the provider confirms the resources are gone: nothing is orphaned by a delete.
        if (row.InstanceId is not null && !await provider.RemoveAsync(row.InstanceId, ct))
            return new PassResult(_poll, []);
        if (!await RemoveEarlierInstancesAsync(provider, row, ct, includeCurrent: true))
            return new PassResult(_poll, []);
        var released = await QueueAdmissionService.StageReleaseAsync(db, row, ct);
        db.Demands.RemoveRange(await db.Demands.Where(d => d.ClusterId == row.Id).ToListAsync(ct));
        db.Clusters.Remove(row);
        await db.SaveChangesAsync(ct);
        if (released) await admission.ReleasedAsync(row.WorkspaceId);
        LogDeleted(logger, row.Id);
        return new PassResult(null, released ? await WaitingInAsync(row.WorkspaceId, ct) : []);
    }

    private async Task<PassResult> StopAsync(ClusterRow row, IClusterProvider provider, CancellationToken ct)
    {
        if (row.InstanceId is not null && row.RunSpecJson is not null && !await provider.StopAsync(row.InstanceId, ct))
        {
            row.State = ClusterState.Stopping;
            row.Message = "Stopping: waiting for the nodes to exit.";
            await db.SaveChangesAsync(ct);
            return new PassResult(_poll, []);
        }
        var released = await QueueAdmissionService.StageReleaseAsync(db, row, ct);
        row.State = ClusterState.Stopped;
        row.Message = row.StopReason;
        row.RunSpecJson = null;
        row.Modified = false;
        ClearNodes(row);
        await db.SaveChangesAsync(ct);
        if (released) await admission.ReleasedAsync(row.WorkspaceId);
        return Settle(new PassResult(null, released ? await WaitingInAsync(row.WorkspaceId, ct) : []), provider);
    }

    /// <summary>True once nothing of the listed instances is left.</summary>
    private static async Task<bool> RemoveEarlierInstancesAsync(IClusterProvider provider, ClusterRow row, CancellationToken ct, bool includeCurrent = false)
    {
        // A Start from Error gives a new instance; the failed one's leftovers go here rather than waiting for a resync.
        var gone = true;
        foreach (var instance in await provider.ListInstancesAsync(row.Id, ct))
            if (instance.StartsWith(row.Id + "-", StringComparison.Ordinal) && (includeCurrent || instance != row.InstanceId))
                gone &= await provider.RemoveAsync(instance, ct);
        return gone;
    }

    private Task<IReadOnlyList<string>> WaitingInAsync(string workspaceId, CancellationToken ct) =>
        QueueAdmissionService.WaitingAsync(db, workspaceId, ct);

    /// <summary>Without autoscaling, replica; with it, what was granted so far, within [min, max] (min for a new group).</summary>
    private static Dictionary<string, int> TargetReplicas(ClusterSpec spec, IReadOnlyDictionary<string, int>? admitted) =>
        spec.Workers.ToDictionary(
            g => g.GroupName,
            g => spec.Head.EnableAutoScaling
                ? Math.Clamp(admitted is not null && admitted.TryGetValue(g.GroupName, out var n) ? n : g.MinReplica, g.MinReplica, g.MaxReplica)
                : g.Replica,
            StringComparer.Ordinal);

    private static Dictionary<string, int>? Replicas(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, WireJson.Default.DictionaryStringInt32);

    private static bool SameCounts(IReadOnlyDictionary<string, int> a, IReadOnlyDictionary<string, int> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static bool IsShrink(IReadOnlyDictionary<string, int> before, IReadOnlyDictionary<string, int> after) =>
        before.Any(kv => after.GetValueOrDefault(kv.Key) < kv.Value);

    private static RayNodeDto ToDto(ObservedNode n) => new()
    {
        InstanceId = n.NodeId,
        Type = n.Type,
        Phase = n.Phase,
        Message = n.Message,
        Reason = n.Reason,
        ContainerState = n.ContainerState,
        ContainerStateMessage = n.ContainerStateMessage,
        ContainerStateReason = n.ContainerStateReason,
        ContainerExitCode = n.ExitCode,
        CreateTime = n.CreateTime,
        StartTime = n.StartTime,
        GroupName = n.GroupName,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId} waits for capacity: {Reason}")]
    private static partial void LogWaiting(ILogger logger, string clusterId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId} admitted")]
    private static partial void LogAdmitted(ILogger logger, string clusterId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId} stops after {Seconds} s idle")]
    private static partial void LogIdleStop(ILogger logger, string clusterId, int seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId} deleted; its resources are gone")]
    private static partial void LogDeleted(ILogger logger, string clusterId);
}
