namespace Rayfleet.Server.Jobs;

/// <summary>Whether a Ray job exists, for routes that name one (the log operations) without reading the job table themselves.</summary>
public interface IJobDirectory
{
    Task<bool> ExistsAsync(string workspaceId, string submissionId, CancellationToken ct);
}

/// <summary>The job table answers.</summary>
public sealed class JobTable(Persistence.RayfleetDbContext db) : IJobDirectory
{
    public Task<bool> ExistsAsync(string workspaceId, string submissionId, CancellationToken ct) =>
        Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AnyAsync(db.Jobs, j => j.Id == submissionId && j.WorkspaceId == workspaceId, ct);
}
