namespace Rayfleet.Server.Jobs;

/// <summary>Whether a Ray job exists, for routes that name one (the log operations) without reading the job table themselves.</summary>
public interface IJobDirectory
{
    Task<bool> ExistsAsync(string workspaceId, string submissionId, CancellationToken ct);
}
