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
/// <remarks>
/// One token is one effect and one stored answer, whatever the interleaving. In this process, calls with the same key
/// run one at a time: a retry that arrives while the first call runs waits for it, then answers what it stored. Across
/// processes on one store, the answer is claimed in the change's own transaction with an insert that yields to a live
/// row: the loser rolls its whole change back and answers the winner's response. A call that fails stores nothing, so
/// the same token runs again once the cause is fixed.
/// </remarks>
public sealed class MutationRunner(RayfleetDbContext db, StoreWriter writer, TimeProvider time, IHttpContextAccessor http, KeyedGates gates)
{
    private static readonly TimeSpan Window = TimeSpan.FromHours(24);
    private const int Attempts = 4;
    public const int MaxClientTokenLength = 64;

    public async Task<IResult> RunAsync(string action, string scope, string? clientToken, object request, Func<Task<Mutation>> work, CancellationToken ct)
    {
        if (clientToken is null) return await RunOnceAsync(action, scope, null, "", work, ct);
        // Stored for 24 hours with its answer, so bounded like every other field (64 is the Alibaba Cloud APIs' limit).
        if (clientToken.Length is 0 or > MaxClientTokenLength || clientToken.Any(c => c is < '!' or > '~'))
            throw ApiException.Invalid($"The specified parameter clientToken is not valid: must be 1 to {MaxClientTokenLength} printable ASCII characters.");
        var key = $"{action}|{scope}|{clientToken}";
        var hash = Hash(request);
        using (await gates.EnterAsync(key, ct))
            return await RunOnceAsync(action, scope, key, hash, work, ct);
    }

    private async Task<IResult> RunOnceAsync(string action, string scope, string? key, string hash, Func<Task<Mutation>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            // Checked again on every attempt: the conflict that sent us round may have been another replica committing
            // this very call.
            if (key is not null && await ReplayAsync(key, hash, ct) is { } stored) return stored;

            Mutation mutation;
            try
            {
                mutation = await work();
            }
            catch (ApiException) when (key is not null)
            {
                // A replica that committed this call in the meantime changes what work() sees (the cluster is already
                // deleted, already starting): its answer is the answer, not the failure that its effect causes here.
                db.ChangeTracker.Clear();
                if (await ReplayAsync(key, hash, ct) is { } replay) return replay;
                throw;
            }

            var json = JsonSerializer.Serialize(mutation.Response, mutation.Response.GetType(), WireJson.Default);
            if (await TryCommitAsync(action, scope, key, hash, mutation, json, ct))
            {
                mutation.AfterCommit?.Invoke();
                return Results.Content(json, "application/json", Encoding.UTF8, mutation.Status);
            }
            db.ChangeTracker.Clear();
            if (attempt == Attempts)
                throw new ApiException(409, ErrorCodes.ConcurrentModification,
                    "The resource was changed by another request while this one was applied; read it again and retry.");
        }
    }

    /// <summary>
    /// False when the change lost a race (a row it read was changed, or the token was claimed): nothing was written.
    /// The claim, the audit row and the change are one unit of the store's group commit.
    /// </summary>
    private async Task<bool> TryCommitAsync(string action, string scope, string? key, string hash, Mutation mutation, string json, CancellationToken ct)
    {
        db.Audit.Add(AuditRowFor(action, scope, mutation));
        try
        {
            return await writer.SaveAsync(db, key is null ? null : w => ClaimAsync(w, key, hash, mutation.Status, json, ct));
        }
        catch (DbUpdateConcurrencyException)
        {
            return false;
        }
    }

    /// <summary>
    /// Records the answer for <paramref name="key"/> unless a live one is there; only a row past the window is replaced.
    /// An insert that yields instead of a unique-key failure: the store decides between replicas without an error, and
    /// the loser learns it before anything of its change is written.
    /// </summary>
    private async Task<bool> ClaimAsync(RayfleetDbContext store, string key, string hash, int status, string json, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var createTime = now.ToUnixTimeMilliseconds();
        var expired = now.Subtract(Window).ToUnixTimeMilliseconds();
        var claimed = await store.Database.ExecuteSqlAsync($"""
            INSERT INTO "idempotency" ("Key", "RequestHash", "StatusCode", "ResponseJson", "CreateTime")
            VALUES ({key}, {hash}, {status}, {json}, {createTime})
            ON CONFLICT ("Key") DO UPDATE SET
                "RequestHash" = excluded."RequestHash", "StatusCode" = excluded."StatusCode",
                "ResponseJson" = excluded."ResponseJson", "CreateTime" = excluded."CreateTime"
            WHERE "idempotency"."CreateTime" < {expired}
            """, ct);
        return claimed == 1;
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
        Convert.ToHexStringLower(SHA256.HashData(request is Parameter p
            ? p.ToUtf8Json()
            : JsonSerializer.SerializeToUtf8Bytes(request, request.GetType(), WireJson.Default)));
}

/// <summary>
/// What a call without a body stands for when its token is checked: the one path or query parameter it acts on,
/// fingerprinted as the JSON object <c>{"name":"value"}</c>.
/// </summary>
public sealed record Parameter(string Name, string Value)
{
    public byte[] ToUtf8Json()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(Name.Length + Value.Length + 8);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(Name, Value);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
