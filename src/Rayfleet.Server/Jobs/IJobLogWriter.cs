using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Jobs;

/// <summary>What the reconciler writes into a job's log folder: the driver log while the job runs, node logs before its cluster goes.</summary>
public interface IJobLogWriter
{
    /// <summary>Replaces the job's copy of its driver log with <paramref name="text"/> (Ray returns the whole log each time).</summary>
    Task WriteDriverLogAsync(string workspaceId, string submissionId, string text, CancellationToken cancellationToken);

    /// <summary>Where a provider copies the node logs of the job's cluster.</summary>
    INodeLogSink NodeLogs(string workspaceId, string submissionId);
}
