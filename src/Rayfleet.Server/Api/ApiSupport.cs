using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

internal static class ApiSupport
{
    public static async Task<WorkspaceRow> RequireWorkspaceAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        await db.Workspaces.AsNoTracking().FirstOrDefaultAsync(w => w.Id == workspaceId, ct)
        ?? throw ApiException.NotFound(ErrorCodes.WorkspaceNotFound, $"Workspace '{workspaceId}' does not exist.");

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

    public static long Now(this TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds();
}
