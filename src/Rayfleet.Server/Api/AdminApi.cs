using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>Principals, access keys and the audit log: Rayfleet extensions for the global admin role.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdmin(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/admin").WithTags("Administration (extension)").RequireRamPolicies();
        group.MapPost("/principals", CreatePrincipal).WithName("CreatePrincipal").Accepts<CreatePrincipalRequest>("application/json");
        group.MapGet("/principals", ListPrincipals).WithName("ListPrincipals");
        group.MapPost("/principals/{principalId}/accessKeys", CreateAccessKey).WithName("CreateAccessKey");
        group.MapGet("/accessKeys", ListAccessKeys).WithName("ListAccessKeys");
        group.MapPost("/accessKeys/{accessKeyId}/disable", DisableAccessKey).WithName("DisableAccessKey");
        group.MapPost("/accessKeys/{accessKeyId}/enable", EnableAccessKey).WithName("EnableAccessKey");
        group.MapDelete("/accessKeys/{accessKeyId}", DeleteAccessKey).WithName("DeleteAccessKey");
        group.MapGet("/audit", ListAuditEvents).WithName("ListAuditEvents");
        return group;
    }

    public static async Task<JsonAnswer<CreatePrincipalResponse>> CreatePrincipal(HttpContext http, RayfleetDbContext db, MutationRunner runner, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<CreatePrincipalRequest>(http.Request);
        return await runner.RunAsync("CreatePrincipal", "", request.ClientToken, request with { ClientToken = null }, async () =>
        {
            if (string.IsNullOrWhiteSpace(request.Name)) throw new ApiException(400, ErrorCodes.Missing("name"), "name is required.");
            if (request.Name.Length > 64 || request.Name.Any(char.IsControl))
                throw ApiException.Invalid("The specified parameter name is not valid: must be 1 to 64 characters without control characters.");
            if (await db.Principals.AnyAsync(p => p.Name == request.Name, ct))
                throw ApiException.Invalid($"The specified parameter name is not valid: a principal named '{request.Name}' exists.");
            var id = "p-" + System.Security.Cryptography.RandomNumberGenerator.GetString("0123456789abcdef", 16);
            db.Principals.Add(new PrincipalRow { Id = id, Name = request.Name, IsAdmin = request.Admin ?? false, CreateTime = time.Now() });
            return Mutation.Of(new CreatePrincipalResponse(http.RequestId(), id), resource: id);
        }, ct);
    }

    public static async Task<Ok<ListPrincipalsResponse>> ListPrincipals(HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var rows = await db.Principals.AsNoTracking().OrderBy(p => p.CreateTime).ThenBy(p => p.Id).ToListAsync(ct);
        return TypedResults.Ok(new ListPrincipalsResponse(http.RequestId(), [.. rows.Select(p => new PrincipalDto(p.Id, p.Name, p.IsAdmin, p.CreateTime))], rows.Count));
    }

    public static async Task<JsonAnswer<CreateAccessKeyResponse>> CreateAccessKey(
        string principalId, HttpContext http, RayfleetDbContext db, MutationRunner runner, AccessKeyStore keys, TimeProvider time, CancellationToken ct)
    {
        // No clientToken here: a replayed answer would have to keep the secret, and secrets are never stored in clear.
        return await runner.RunAsync("CreateAccessKey", principalId, null, new Parameter("principalId", principalId), async () =>
        {
            if (!await db.Principals.AnyAsync(p => p.Id == principalId, ct))
                throw ApiException.NotFound("InvalidPrincipal.NotFound", $"Principal '{principalId}' does not exist.");
            var id = AccessKeyStore.NewKeyId();
            var secret = AccessKeyStore.NewSecret();
            db.AccessKeys.Add(new AccessKeyRow { Id = id, PrincipalId = principalId, ProtectedSecret = keys.Protect(secret), CreateTime = time.Now() });
            return Mutation.Of(new CreateAccessKeyResponse(http.RequestId(), id, secret, principalId), resource: id);
        }, ct);
    }

    public static async Task<Ok<ListAccessKeysResponse>> ListAccessKeys(HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var principal = ApiSupport.Query(http.Request, "principalId");
        var rows = await db.AccessKeys.AsNoTracking().Where(k => principal == null || k.PrincipalId == principal)
            .OrderBy(k => k.CreateTime).ThenBy(k => k.Id).ToListAsync(ct);
        return TypedResults.Ok(new ListAccessKeysResponse(http.RequestId(),
            [.. rows.Select(k => new AccessKeyDto(k.Id, k.PrincipalId, k.Active ? "Active" : "Inactive", k.CreateTime))], rows.Count));
    }

    public static Task<JsonAnswer<RequestIdResponse>> DisableAccessKey(string accessKeyId, HttpContext http, RayfleetDbContext db, MutationRunner runner, AccessKeyStore keys, CancellationToken ct) =>
        SetActiveAsync(accessKeyId, false, "DisableAccessKey", http, db, runner, keys, ct);

    public static Task<JsonAnswer<RequestIdResponse>> EnableAccessKey(string accessKeyId, HttpContext http, RayfleetDbContext db, MutationRunner runner, AccessKeyStore keys, CancellationToken ct) =>
        SetActiveAsync(accessKeyId, true, "EnableAccessKey", http, db, runner, keys, ct);

    private static async Task<JsonAnswer<RequestIdResponse>> SetActiveAsync(
        string accessKeyId, bool active, string action, HttpContext http, RayfleetDbContext db, MutationRunner runner, AccessKeyStore keys, CancellationToken ct) =>
        await runner.RunAsync(action, accessKeyId, null, new Parameter("accessKeyId", accessKeyId), async () =>
        {
            var row = await FindKeyAsync(db, accessKeyId, ct);
            row.Active = active;
            return Mutation.Of(new RequestIdResponse(http.RequestId()), () => keys.Evict(accessKeyId), resource: accessKeyId);
        }, ct);

    public static async Task<JsonAnswer<RequestIdResponse>> DeleteAccessKey(string accessKeyId, HttpContext http, RayfleetDbContext db, MutationRunner runner, AccessKeyStore keys, CancellationToken ct) =>
        await runner.RunAsync("DeleteAccessKey", accessKeyId, null, new Parameter("accessKeyId", accessKeyId), async () =>
        {
            var row = await FindKeyAsync(db, accessKeyId, ct);
            if (Caller.Of(http)?.AccessKeyId == accessKeyId)
                throw ApiException.Denied("An access key cannot delete itself; use another admin key.");
            db.AccessKeys.Remove(row);
            return Mutation.Of(new RequestIdResponse(http.RequestId()), () => keys.Evict(accessKeyId), resource: accessKeyId);
        }, ct);

    public static async Task<Ok<ListAuditEventsResponse>> ListAuditEvents(HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var pageSize = ApiSupport.QueryInt(http.Request, "pageSize", 50, 1, 500);
        var query = db.Audit.AsNoTracking().AsQueryable();
        if (ApiSupport.Query(http.Request, "nextToken") is { } token)
        {
            if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var before))
                throw ApiException.Invalid($"The specified parameter nextToken is not valid: '{token}' was not returned by this API.");
            query = query.Where(a => a.Id < before);
        }
        if (ApiSupport.Query(http.Request, "principalId") is { } principal) query = query.Where(a => a.PrincipalId == principal);
        if (ApiSupport.Query(http.Request, "workspaceId") is { } ws) query = query.Where(a => a.WorkspaceId == ws);
        if (ApiSupport.Query(http.Request, "action") is { } action)
        {
            var full = action.StartsWith(RamPolicies.ActionPrefix, StringComparison.Ordinal) ? action : RamPolicies.ActionPrefix + action;
            query = query.Where(a => a.Action == full || a.Action == action);
        }
        if (ApiSupport.Query(http.Request, "outcome") is { } outcome) query = query.Where(a => a.Outcome == outcome);
        // Parsed before they join the query: a failure inside the expression would reach EF as an evaluation error.
        if (QueryTime(http.Request, "since") is { } since) query = query.Where(a => a.Time >= since);
        if (QueryTime(http.Request, "until") is { } until) query = query.Where(a => a.Time < until);
        // Newest first; the token is the last id served, so rows written meanwhile never shift a page.
        var rows = await query.OrderByDescending(a => a.Id).Take(pageSize + 1).ToListAsync(ct);
        var next = rows.Count > pageSize ? rows[pageSize - 1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new ListAuditEventsResponse(http.RequestId(),
            [.. rows.Take(pageSize).Select(a => new AuditEventDto(a.Id, a.Time, a.PrincipalId, a.AccessKeyId, a.Action, a.WorkspaceId, a.Resource, a.Outcome, a.Status, a.RequestId, a.SourceIp))],
            next));
    }

    /// <summary>Latest instant a query may name: DateTimeOffset.MaxValue in Unix epoch milliseconds.</summary>
    private const long MaxEpochMilliseconds = 253_402_300_799_999;

    private static long? QueryTime(HttpRequest request, string name)
    {
        if (ApiSupport.Query(request, name) is not { } text) return null;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms <= MaxEpochMilliseconds) return ms;
        throw ApiException.Invalid(
            $"The specified parameter {name} is not valid: Unix epoch milliseconds from 0 to {MaxEpochMilliseconds} expected, got {ClusterRules.Shown(text)}.");
    }

    private static async Task<AccessKeyRow> FindKeyAsync(RayfleetDbContext db, string accessKeyId, CancellationToken ct) =>
        await db.AccessKeys.FirstOrDefaultAsync(k => k.Id == accessKeyId, ct)
        ?? throw ApiException.NotFound(AuthCodes.AccessKeyNotFound, $"Access key '{accessKeyId}' does not exist.");
}

/// <summary>Workspace members and their roles (extension): owner, developer, viewer.</summary>
public static class MemberApi
{
    public static RouteGroupBuilder MapMembers(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/members").WithTags("Members (extension)").RequireRamPolicies();
        group.MapGet("", List).WithName("ListWorkspaceMembers");
        group.MapPost("", Add).WithName("AddWorkspaceMember").Accepts<AddMemberRequest>("application/json");
        group.MapDelete("/{principalId}", Remove).WithName("RemoveWorkspaceMember");
        return group;
    }

    public static async Task<Ok<ListMembersResponse>> List(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var rows = await (from m in db.Memberships.AsNoTracking()
                          join p in db.Principals.AsNoTracking() on m.PrincipalId equals p.Id into ps
                          from p in ps.DefaultIfEmpty()
                          where m.WorkspaceId == workspaceId
                          orderby m.CreateTime, m.PrincipalId
                          select new MemberDto(m.PrincipalId, p == null ? null : p.Name, m.Role, m.CreateTime)).ToListAsync(ct);
        return TypedResults.Ok(new ListMembersResponse(http.RequestId(), rows, rows.Count));
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Add(string workspaceId, HttpContext http, RayfleetDbContext db, MutationRunner runner, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<AddMemberRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("AddWorkspaceMember", workspaceId, request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var problems = new List<Problem>();
            if (request.PrincipalId is null) problems.Add(new(ErrorCodes.Missing("principalId"), "principalId", "principalId is required."));
            else if (!await db.Principals.AnyAsync(p => p.Id == request.PrincipalId, ct))
                problems.Add(new("InvalidPrincipal.NotFound", "principalId", $"principalId: principal '{request.PrincipalId}' does not exist."));
            if (request.Role is null) problems.Add(new(ErrorCodes.Missing("role"), "role", "role is required."));
            else if (!Roles.All.Contains(request.Role))
                problems.Add(new(ErrorCodes.InvalidParameter, "role", $"The specified parameter role is not valid: must be one of {string.Join(", ", Roles.All)}."));
            if (problems.Count > 0) throw ApiException.FromProblems(problems);
            var row = await db.Memberships.FirstOrDefaultAsync(m => m.WorkspaceId == workspaceId && m.PrincipalId == request.PrincipalId, ct);
            if (row is null) db.Memberships.Add(new MembershipRow { WorkspaceId = workspaceId, PrincipalId = request.PrincipalId!, Role = request.Role!, CreateTime = time.Now() });
            else row.Role = request.Role!;
            return Mutation.Of(new RequestIdResponse(http.RequestId()), resource: request.PrincipalId);
        }, ct);
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Remove(string workspaceId, string principalId, HttpContext http, RayfleetDbContext db, MutationRunner runner, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("RemoveWorkspaceMember", workspaceId, ApiSupport.Query(http.Request, "clientToken"), new Parameter("principalId", principalId), async () =>
        {
            var row = await db.Memberships.FirstOrDefaultAsync(m => m.WorkspaceId == workspaceId && m.PrincipalId == principalId, ct)
                      ?? throw ApiException.NotFound("InvalidMember.NotFound", $"Principal '{principalId}' is not a member of the workspace.");
            db.Memberships.Remove(row);
            return Mutation.Of(new RequestIdResponse(http.RequestId()), resource: principalId);
        }, ct);
    }
}
