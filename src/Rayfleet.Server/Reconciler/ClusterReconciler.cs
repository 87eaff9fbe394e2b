using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Reconciler;

/// <summary>What the API uses to wake the reconciler after it committed a change.</summary>
public interface IReconcileTrigger
{
    void Enqueue(string clusterId);
}

/// <summary>
/// Drives every cluster toward its desired state: a channel-fed work queue plus a periodic resync, one pass per
/// cluster at a time, at most <see cref="ReconcilerOptions.MaxParallelism"/> passes at once, exponential backoff with
/// jitter on failure, and a try/catch around every pass so one bad cluster never stops the loop.
/// </summary>
public sealed partial class ClusterReconciler(
    IServiceScopeFactory scopes,
    IOptions<RayfleetOptions> options,
    IProviderRegistry providers,
    TimeProvider time,
    ILogger<ClusterReconciler> logger) : BackgroundService, IReconcileTrigger
{
    private readonly ReconcilerOptions _options = options.Value.Reconciler;
    private readonly WorkQueue _queue = new(time, options.Value.Reconciler.BackoffBase, options.Value.Reconciler.BackoffMax);

    /// <summary>Completed passes, for tests and diagnostics.</summary>
    public long PassCount => Interlocked.Read(ref _passes);
    private long _passes;

    public bool Started { get; private set; }

    /// <summary>Clusters queued or in a pass right now.</summary>
    public int QueueLength => _queue.Count;

    /// <summary>
    /// Clusters whose last pass left them settled on a provider that reports its changes (a watch, the simulated
    /// provider's timers): the periodic resync does not pass them again, as a client-go informer's resync does not
    /// re-fetch what its watch keeps current. A change of theirs comes through the API or the provider's report.
    /// Held in memory only: the first resync after a start passes every cluster, which also re-arms the reports.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _settled = new(StringComparer.Ordinal);

    /// <summary>Clusters the periodic resync leaves to their provider's change reports.</summary>
    public int SettledCount => _settled.Count;

    /// <summary>Clusters with a later look scheduled.</summary>
    public int PendingRequeues => _queue.PendingCount;

    public void Enqueue(string clusterId)
    {
        if (_options.Enabled) _queue.Add(clusterId);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            // Ready as configured: the API serves, nothing reconciles.
            Started = true;
            return;
        }
        // Providers that watch their backend wake the cluster whose resources changed, rather than waiting for a poll.
        foreach (var source in providers.All.OfType<IClusterChangeSource>())
            source.Subscribe(Enqueue);
        var workers = Enumerable.Range(0, _options.MaxParallelism).Select(_ => Task.Run(() => WorkerAsync(stoppingToken), CancellationToken.None)).ToList();
        Started = true;
        using var timer = new PeriodicTimer(_options.ResyncInterval, time);
        try
        {
            do
            {
                await ResyncAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await Task.WhenAll(workers);
    }

    public override void Dispose()
    {
        _queue.Dispose();
        base.Dispose();
    }

    /// <summary>Enqueues every cluster in the store and removes provider resources that no cluster owns.</summary>
    public async Task ResyncAsync(CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            // Instances are listed before the store is read: an instance is only ever created after its id is committed,
            // so anything listed here that the store does not name afterwards is truly nobody's.
            var existing = new List<(IClusterProvider Provider, string Instance)>();
            foreach (var provider in providers.All)
            {
                try
                {
                    foreach (var instance in await provider.ListInstancesAsync(null, ct))
                        existing.Add((provider, instance));
                }
                catch (Exception ex) when (!ct.IsCancellationRequested)
                {
                    // One unreachable backend must not keep the clusters of the others from their resync; its own
                    // orphans wait for a resync that can list them.
                    LogListFailed(logger, ex, provider.Name);
                }
            }

            // In admission order, so that waiting clusters are looked at first-come first-served.
            var clusters = await db.Clusters.AsNoTracking().OrderBy(c => c.QueuedAt).ThenBy(c => c.Id).Select(c => new { c.Id, c.InstanceId }).ToListAsync(ct);
            var present = clusters.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _settled.Keys.Where(id => !present.Contains(id)).ToList()) _settled.TryRemove(gone, out _);
            foreach (var c in clusters)
                if (!_settled.ContainsKey(c.Id)) _queue.Add(c.Id);

            // An instance is owned only by the cluster whose current instance it is; a crash between a Start and the
            // stop of the instance before it, or between a delete and the removal of its row, leaves such leftovers.
            // Jobs still to follow, and finished ones whose job-mode cluster waits for its TTL.
            var jobs = await db.Jobs.AsNoTracking()
                .Where(j => (j.Status != Core.Jobs.JobStatus.Succeeded && j.Status != Core.Jobs.JobStatus.Failed
                             && j.Status != Core.Jobs.JobStatus.Cancelled && j.Status != Core.Jobs.JobStatus.Timeout)
                            || (j.OwnsCluster && j.ClusterState != Core.Jobs.JobClusterState.Deleted))
                .OrderBy(j => j.SubmitTime).Select(j => j.Id).ToListAsync(ct);
            foreach (var job in jobs) _queue.Add(job);

            var owned = clusters.Where(c => c.InstanceId is not null).Select(c => c.InstanceId!).ToHashSet(StringComparer.Ordinal);
            // clientToken answers are kept for 24 hours (semantics.md); older ones go here.
            var cutoff = time.GetUtcNow().AddHours(-25).ToUnixTimeMilliseconds();
            await db.Idempotency.Where(r => r.CreateTime < cutoff).ExecuteDeleteAsync(ct);

            foreach (var (provider, instance) in existing)
                    if (!owned.Contains(instance))
                    {
                        LogOrphan(logger, instance, provider.Name);
                        await provider.RemoveAsync(instance, ct);
                    }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            LogResyncFailed(logger, ex);
        }
    }

    private async Task WorkerAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            string key;
            try
            {
                key = await _queue.TakeAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                // A pass that committed a step and asks to go on at once (admission granted, a job submitted) goes on here,
                // still holding its key, instead of behind everything queued meanwhile: in a burst of a thousand creates,
                // the next step of an admitted cluster must not wait for the first pass of all the others.
                var result = await PassAsync(key, ct);
                for (var step = 1; result.RequeueAfter == TimeSpan.Zero && step < MaxStepsInARow; step++)
                {
                    foreach (var woken in result.Wake) _queue.Add(woken);
                    result = await PassAsync(key, ct);
                }
                if (result.Settled) _settled[key] = 0;
                else _settled.TryRemove(key, out _);
                _queue.Forget(key);
                _queue.Done(key);
                if (result.RequeueAfter is { } delay) _queue.AddAfter(key, delay);
                foreach (var woken in result.Wake) _queue.Add(woken);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                _queue.Done(key);
                return;
            }
            catch (DbUpdateConcurrencyException)
            {
                _settled.TryRemove(key, out _);
                // Someone wrote the row since this pass read it: look again at once with what is there now.
                _queue.Done(key);
                _queue.Add(key);
            }
            catch (Exception ex)
            {
                _settled.TryRemove(key, out _);
                _queue.Done(key);
                var delay = _queue.AddRateLimited(key);
                LogPassFailed(logger, ex, key, _queue.Failures(key), delay);
            }
            finally
            {
                Interlocked.Increment(ref _passes);
            }
        }
    }

    /// <summary>Immediate follow-up passes one worker runs for a key before it goes back in line.</summary>
    private const int MaxStepsInARow = 4;

    private async Task<PassResult> PassAsync(string key, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        // One queue for clusters and jobs: their ids never collide ("ray-…", "rj-…"), and a pass of one wakes the other.
        return IsJob(key)
            ? await scope.ServiceProvider.GetRequiredService<JobReconcilePass>().RunAsync(key, ct)
            : await scope.ServiceProvider.GetRequiredService<ClusterReconcilePass>().RunAsync(key, ct);
    }

    private static bool IsJob(string key) => key.StartsWith("rj-", StringComparison.Ordinal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile of {ClusterId} failed ({Failures} in a row); retrying in {Delay}")]
    private static partial void LogPassFailed(ILogger logger, Exception ex, string clusterId, int failures, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing the instances of provider {Provider} failed; its orphans are looked for at the next resync")]
    private static partial void LogListFailed(ILogger logger, Exception ex, string provider);

    [LoggerMessage(Level = LogLevel.Error, Message = "Resync failed")]
    private static partial void LogResyncFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removing instance {InstanceId} on provider {Provider}: no cluster owns it")]
    private static partial void LogOrphan(ILogger logger, string instanceId, string provider);
}

public sealed record PassResult(TimeSpan? RequeueAfter, IReadOnlyList<string> Wake)
{
    /// <summary>Nothing left to do until something changes, and the provider reports its changes (see ClusterReconciler).</summary>
    public bool Settled { get; init; }

    public static readonly PassResult Done = new(null, []);
}
