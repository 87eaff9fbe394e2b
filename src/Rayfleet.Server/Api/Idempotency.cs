using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.EntityFrameworkCore;
using Polly;
using Polly.Retry;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>
/// A change staged on the context, the response that acknowledges it, what to do once it is committed, and the
/// resource it concerns for the audit log (the call's scope when null).
/// </summary>
public sealed record Mutation<TResponse>(TResponse Response, Action? AfterCommit = null, string? Resource = null) where TResponse : class;

public static class Mutation
{
    public static Mutation<TResponse> Of<TResponse>(TResponse response, Action? afterCommit = null, string? resource = null)
        where TResponse : class => new(response, afterCommit, resource);
}

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

    public async Task<JsonAnswer<TResponse>> RunAsync<TResponse>(
        string action, string scope, string? clientToken, object request, Func<Task<Mutation<TResponse>>> work, CancellationToken ct)
        where TResponse : class
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

    /// <summary>
    /// A call whose commit lost a race runs again from the start, at once, up to <see cref="Attempts"/> times in all:
    /// what it read is stale, and waiting would not make it fresh.
    /// </summary>
    private static readonly ResiliencePipeline LostRaces = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<LostRaceException>(),
            MaxRetryAttempts = Attempts - 1,
            Delay = TimeSpan.Zero,
            BackoffType = DelayBackoffType.Constant,
            UseJitter = false,
        })
        .Build();

    private async Task<JsonAnswer<TResponse>> RunOnceAsync<TResponse>(
        string action, string scope, string? key, string hash, Func<Task<Mutation<TResponse>>> work, CancellationToken ct)
        where TResponse : class
    {
        try
        {
            return await LostRaces.ExecuteAsync(async token => await AttemptAsync(action, scope, key, hash, work, token), ct);
        }
        catch (LostRaceException)
        {
            throw new ApiException(409, ErrorCodes.ConcurrentModification,
                "The resource was changed by another request while this one was applied; read it again and retry.");
        }
    }

    private async Task<JsonAnswer<TResponse>> AttemptAsync<TResponse>(
        string action, string scope, string? key, string hash, Func<Task<Mutation<TResponse>>> work, CancellationToken ct)
        where TResponse : class
    {
        // Checked again on every attempt: the conflict that sent us round may have been another replica committing
        // this very call.
        if (key is not null && await ReplayAsync<TResponse>(key, hash, ct) is { } stored) return stored;

        Mutation<TResponse> mutation;
        try
        {
            mutation = await work();
        }
        catch (ApiException) when (key is not null)
        {
            // A replica that committed this call in the meantime changes what work() sees (the cluster is already
            // deleted, already starting): its answer is the answer, not the failure that its effect causes here.
            db.ChangeTracker.Clear();
            if (await ReplayAsync<TResponse>(key, hash, ct) is { } replay) return replay;
            throw;
        }

        var json = JsonSerializer.Serialize(mutation.Response, WireJson.Default.GetTypeInfo(typeof(TResponse))!);
        if (!await TryCommitAsync(action, scope, key, hash, mutation.Resource, json, ct))
        {
            db.ChangeTracker.Clear();
            throw new LostRaceException();
        }
        mutation.AfterCommit?.Invoke();
        return new JsonAnswer<TResponse>(json, StatusCodes.Status200OK);
    }

    /// <summary>The attempt's commit lost a race and wrote nothing.</summary>
    private sealed class LostRaceException : Exception;

    /// <summary>
    /// False when the change lost a race (a row it read was changed, or the token was claimed): nothing was written.
    /// The claim, the audit row and the change are one unit of the store's group commit.
    /// </summary>
    private async Task<bool> TryCommitAsync(string action, string scope, string? key, string hash, string? resource, string json, CancellationToken ct)
    {
        db.Audit.Add(AuditRowFor(action, scope, resource));
        try
        {
            return await writer.SaveAsync(db, key is null ? null : w => ClaimAsync(w, key, hash, StatusCodes.Status200OK, json, ct));
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

    private AuditRow AuditRowFor(string action, string scope, string? resource)
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
            Resource = resource ?? (scope.Length == 0 ? null : scope),
            Outcome = "Success",
            Status = StatusCodes.Status200OK,
            RequestId = context?.RequestId() ?? "",
            SourceIp = context?.Connection.RemoteIpAddress?.ToString(),
        };
    }

    private async Task<JsonAnswer<TResponse>?> ReplayAsync<TResponse>(string key, string hash, CancellationToken ct) where TResponse : class
    {
        var row = await db.Idempotency.AsNoTracking().FirstOrDefaultAsync(r => r.Key == key, ct);
        if (row is null || row.CreateTime < time.GetUtcNow().Subtract(Window).ToUnixTimeMilliseconds()) return null;
        if (row.RequestHash != hash)
            throw new ApiException(400, ErrorCodes.IdempotentParameterMismatch,
                "The clientToken was already used with different parameters in the last 24 hours.");
        return new JsonAnswer<TResponse>(row.ResponseJson, row.StatusCode);
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

/// <summary>
/// A mutating call's answer: the JSON of a <typeparamref name="TResponse"/>, serialized once when the change committed
/// and stored with its <c>clientToken</c>, so that a replay answers the very same bytes. Describes itself to the API
/// description as a <typeparamref name="TResponse"/>.
/// </summary>
public sealed class JsonAnswer<TResponse>(string json, int statusCode) : IResult, IStatusCodeHttpResult, IContentTypeHttpResult, IEndpointMetadataProvider
{
    private const string JsonContentType = "application/json; charset=utf-8";

    public string Json => json;
    public int StatusCode => statusCode;
    int? IStatusCodeHttpResult.StatusCode => statusCode;
    public string ContentType => JsonContentType;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = statusCode;
        httpContext.Response.ContentType = JsonContentType;
        return httpContext.Response.WriteAsync(json, Encoding.UTF8, httpContext.RequestAborted);
    }

    static void IEndpointMetadataProvider.PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(TResponse), ["application/json"]));
}
