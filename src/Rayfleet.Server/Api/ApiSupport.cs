using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

internal static class ApiSupport
{
    /// <summary>The workspace, from the service's <see cref="WorkspaceCache"/> (a context outside the service reads the store).</summary>
    public static async Task<WorkspaceRow> RequireWorkspaceAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        await (db.WorkspaceCache is { } cache
            ? cache.FindAsync(db, workspaceId, ct)
            : db.Workspaces.AsNoTracking().FirstOrDefaultAsync(w => w.Id == workspaceId, ct))
        ?? throw WorkspaceNotFound(workspaceId);

    /// <summary>
    /// The workspace's List totals (<see cref="WorkspaceTotalsRow"/>), in the same query that says it exists: a
    /// workspace without a totals row holds nothing yet.
    /// </summary>
    public static async Task<WorkspaceTotals> RequireWorkspaceTotalsAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        await (from w in db.Workspaces.AsNoTracking()
               where w.Id == workspaceId
               from t in db.WorkspaceTotals.AsNoTracking().Where(t => t.WorkspaceId == w.Id).DefaultIfEmpty()
               select new WorkspaceTotals(t == null ? 0 : t.LiveClusters, t == null ? 0 : t.Jobs)).FirstOrDefaultAsync(ct)
        ?? throw WorkspaceNotFound(workspaceId);

    public static ApiException WorkspaceNotFound(string workspaceId) =>
        ApiException.NotFound(ErrorCodes.WorkspaceNotFound, $"Workspace '{workspaceId}' does not exist.");

    /// <summary>An optional integer query parameter within a range; anything else is InvalidParameter naming it.</summary>
    public static int QueryInt(HttpRequest request, string name, int defaultValue, int min, int max)
    {
        var raw = request.Query[name];
        if (raw.Count == 0 || string.IsNullOrEmpty(raw[0])) return defaultValue;
        if (!int.TryParse(raw[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw ApiException.Invalid($"The specified parameter {name} is not valid: must be an integer from {min} to {max}, got '{raw[0]}'.");
        return value;
    }

    public static string? Query(HttpRequest request, string name)
    {
        var raw = request.Query[name];
        return raw.Count == 0 || string.IsNullOrEmpty(raw[0]) ? null : raw[0];
    }

    /// <summary>
    /// The rules for a resource name unique in its workspace: required, 1 to 64 characters without control characters,
    /// and not taken (<paramref name="takenAsync"/> is asked only for an otherwise valid name).
    /// </summary>
    public static async Task CheckUniqueNameAsync(List<Problem> problems, string? name, string what, Func<string, Task<bool>> takenAsync)
    {
        if (name is null) problems.Add(new(ErrorCodes.Missing("name"), "name", "name is required."));
        else if (name.Length is < 1 or > 64 || name.Any(char.IsControl))
            problems.Add(new(ErrorCodes.InvalidParameter, "name", "The specified parameter name is not valid: must be 1 to 64 characters without control characters."));
        else if (await takenAsync(name))
            problems.Add(new(ErrorCodes.InvalidParameter, "name", $"The specified parameter name is not valid: a {what} named '{name}' already exists in the workspace."));
    }

    public static long Now(this TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();
}

/// <summary>Live (not tombstoned) clusters and jobs of a workspace: the totals of its unfiltered Lists.</summary>
internal sealed record WorkspaceTotals(long LiveClusters, long Jobs);
