using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Jobs.Logs;

/// <summary>
/// Removes job log folders whose newest file is older than <see cref="LogOptions.Retention"/>: once at start, then
/// every <see cref="LogOptions.SweepInterval"/> on the injected clock. A sweep looks at no more than
/// <see cref="LogOptions.MaxJobsPerSweep"/> job folders and the next one carries on after the last, so a store of any
/// size costs a bounded amount per sweep. A failing sweep is logged and the next one runs as planned.
/// </summary>
public sealed partial class LogRetention(LogStore store, IOptions<LogOptions> options, TimeProvider time, ILogger<LogRetention> logger)
    : BackgroundService
{
    private readonly LogOptions _options = options.Value;
    private string? _cursor;
    private long _sweeps;
    private TaskCompletionSource _swept = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Sweeps finished since start.</summary>
    public long SweepCount => Interlocked.Read(ref _sweeps);

    /// <summary>Completes once <paramref name="count"/> sweeps have finished since start (with or without removals).</summary>
    public async Task WaitForSweepsAsync(long count, CancellationToken cancellationToken)
    {
        while (true)
        {
            var swept = Volatile.Read(ref _swept);
            if (SweepCount >= count) return;
            await swept.Task.WaitAsync(cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval, time);
        do
        {
            try
            {
                var removed = await SweepAsync(stoppingToken);
                if (removed > 0) LogRemoved(logger, removed, _options.Retention);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogSweepFailed(logger, e);
            }
            Interlocked.Increment(ref _sweeps);
            Interlocked.Exchange(ref _swept, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One sweep: how many job folders it removed.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var cutoff = now - _options.Retention;
        store.ClearStaleStaging(now - TimeSpan.FromDays(1));

        var batch = NextBatch();
        // The whole store was seen: the next sweep starts again from the beginning.
        _cursor = batch.Count < _options.MaxJobsPerSweep ? null : batch[^1].Key;
        var removed = 0;
        foreach (var (_, workspaceId, submissionId) in batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // Checked again under the job's gate: a write may have come in since the folder was picked.
                if (await store.DeleteJobIfAsync(workspaceId, submissionId, folder => Newest(folder) < cutoff, cancellationToken))
                    removed++;
            }
            catch (LogStoreException e)
            {
                LogFolderFailed(logger, e, workspaceId, submissionId);
            }
        }
        return removed;
    }

    /// <summary>The next job folders after the cursor, in key order, at most MaxJobsPerSweep (a bounded heap, not a sorted list of all).</summary>
    private List<(string Key, string WorkspaceId, string SubmissionId)> NextBatch()
    {
        var limit = _options.MaxJobsPerSweep;
        var heap = new PriorityQueue<(string Key, string WorkspaceId, string SubmissionId), string>(
            Comparer<string>.Create((a, b) => string.CompareOrdinal(b, a)));
        foreach (var (workspaceId, folder) in store.WorkspaceFolders())
        {
            foreach (var job in new DirectoryInfo(folder).EnumerateDirectories())
            {
                if (!LogNames.IsId(job.Name) || LogStore.IsLink(job)) continue;
                var key = workspaceId + "/" + job.Name;
                if (_cursor is not null && string.CompareOrdinal(key, _cursor) <= 0) continue;
                if (heap.Count < limit) heap.Enqueue((key, workspaceId, job.Name), key);
                else if (string.CompareOrdinal(key, heap.Peek().Key) < 0) heap.DequeueEnqueue((key, workspaceId, job.Name), key);
            }
        }
        var batch = new List<(string, string, string)>(heap.Count);
        while (heap.Count > 0) batch.Add(heap.Dequeue());
        batch.Reverse();
        return batch;
    }

    /// <summary>The newest write in a job's folder: its newest file, or the folder itself when it holds none.</summary>
    private static DateTimeOffset Newest(string folder)
    {
        var info = new DirectoryInfo(folder);
        if (!info.Exists) return DateTimeOffset.MaxValue;
        DateTime? newest = null;
        foreach (var file in info.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint }))
            if (newest is null || file.LastWriteTimeUtc > newest) newest = file.LastWriteTimeUtc;
        return new DateTimeOffset(newest ?? info.LastWriteTimeUtc, TimeSpan.Zero);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Log retention removed {Count} job log folders older than {Retention}")]
    private static partial void LogRemoved(ILogger logger, int count, TimeSpan retention);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Log retention sweep failed; the next one runs as planned")]
    private static partial void LogSweepFailed(ILogger logger, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Log retention could not remove the logs of job {SubmissionId} in workspace {WorkspaceId}")]
    private static partial void LogFolderFailed(ILogger logger, Exception e, string workspaceId, string submissionId);
}
