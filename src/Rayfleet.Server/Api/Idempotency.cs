using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>
/// A change staged on the context, the response that acknowledges it, what to do once it is committed, and the
/// resource it concerns for the audit log (the call's scope when null).
/// </summary>
public sealed record Mutation(object Response, Action? AfterCommit = null, int Status = 200, string? Resource = null);

/// <summary>
/// Runs a mutating call: stages its change, records the <c>clientToken</c> response in the same transaction, commits,
/// and retries the whole call when the row it read was changed in between. A token seen within 24 hours with the same
/// parameters answers the first response again; with other parameters it fails. The audit row of the change is written
/// in the same transaction, so a change that fails leaves no row and a committed one always has its row.
/// </summary>
public sealed class MutationRunner(RayfleetDbContext db, TimeProvider time, IHttpContextAccessor http)
{
    private static readonly TimeSpan Window = TimeSpan.FromHours(24);
    private const int Attempts = 4;

    public async Task<IResult> RunAsync(string action, string scope, string? clientToken, object request, Func<Task<Mutation>> work, CancellationToken ct)
    {
        var key = clientToken is null ? null : $"{action}|{scope}|{clientToken}";
        var hash = Hash(request);
        if (key is not null && await ReplayAsync(key, hash, ct) is { } first) return first;

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var mutation = await work();
                var json = JsonSerializer.Serialize(mutation.Response, mutation.Response.GetType());
                if (key is not null)
                {
                    var stale = await db.Idempotency.FirstOrDefaultAsync(r => r.Key == key, ct);
                    if (stale is not null) db.Idempotency.Remove(stale);
                    db.Idempotency.Add(new IdempotencyRow
                    {
                        Key = key,
                        RequestHash = hash,
                        StatusCode = mutation.Status,
                        ResponseJson = json,
                        CreateTime = time.GetUtcNow().ToUnixTimeMilliseconds(),
                    });
                }
                db.Audit.Add(AuditRowFor(action, scope, mutation));
                await db.SaveChangesAsync(ct);
                mutation.AfterCommit?.Invoke();
                return Results.Content(json, "application/json", Encoding.UTF8, mutation.Status);
            }
            catch (DbUpdateConcurrencyException) when (attempt < Attempts)
            {
                db.ChangeTracker.Clear();
            }
            catch (DbUpdateConcurrencyException)
            {
                throw new ApiException(409, ErrorCodes.ConcurrentModification,
                    "The resource was changed by another request while this one was applied; read it again and retry.");
            }
            catch (DbUpdateException) when (key is not null)
            {
                // Most likely the same token committed by a concurrent request: answer as it did.
                db.ChangeTracker.Clear();
                if (await ReplayAsync(key, hash, ct) is { } replay) return replay;
                throw;
            }
        }
    }

    private AuditRow AuditRowFor(string action, string scope, Mutation mutation)
    {
        var context = http.HttpContext;
        var caller = context is null ? null : Caller.Of(context);
        var workspaceId = context?.GetRouteValue("workspaceId") as string;
        if (workspaceId is null && scope.StartsWith("w-", StringComparison.Ordinal)) workspaceId = scope.Split('/')[0];
        return new AuditRow
        {
            Time = time.GetUtcNow().ToUnixTimeMilliseconds(),
            PrincipalId = caller?.PrincipalId,
            AccessKeyId = caller?.AccessKeyId,
            Action = RamPolicies.ActionPrefix + action,
            WorkspaceId = workspaceId,
            Resource = mutation.Resource ?? (scope.Length == 0 ? null : scope),
            Outcome = "Success",
            Status = mutation.Status,
            RequestId = context?.RequestId() ?? "",
            SourceIp = context?.Connection.RemoteIpAddress?.ToString(),
        };
    }

    private async Task<IResult?> ReplayAsync(string key, string hash, CancellationToken ct)
    {
        var row = await db.Idempotency.AsNoTracking().FirstOrDefaultAsync(r => r.Key == key, ct);
        if (row is null || row.CreateTime < time.GetUtcNow().Subtract(Window).ToUnixTimeMilliseconds()) return null;
        if (row.RequestHash != hash)
            throw new ApiException(400, ErrorCodes.IdempotentParameterMismatch,
                "The clientToken was already used with different parameters in the last 24 hours.");
        return Results.Content(row.ResponseJson, "application/json", Encoding.UTF8, row.StatusCode);
    }

    private static string Hash(object request) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request, request.GetType())));
}
