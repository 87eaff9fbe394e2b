using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

public enum RamScope
{
    /// <summary>Any authenticated caller (catalogues, the caller's own workspace list).</summary>
    AnyCaller,
    /// <summary>The global admin role only.</summary>
    Admin,
    /// <summary>A role in the workspace named by the route's {workspaceId}.</summary>
    Workspace,
    /// <summary>A role in the workspace named by the body's workspaceId (CreateWorkspaceQueue, EditWorkspaceQueue).</summary>
    BodyWorkspace,
}

public sealed record RamPolicy(RamScope Scope, string? MinimumRole = null);

/// <summary>
/// Which role each action needs, by endpoint name (the EMR action name). An endpoint missing from this table is
/// admin-only, so a new route is closed until someone decides who may call it.
/// </summary>
public static class RamPolicies
{
    public const string ActionPrefix = "emr-serverless-spark:";

    private static readonly RamPolicy Viewer = new(RamScope.Workspace, Roles.Viewer);
    private static readonly RamPolicy Developer = new(RamScope.Workspace, Roles.Developer);
    private static readonly RamPolicy Owner = new(RamScope.Workspace, Roles.Owner);
    private static readonly RamPolicy AdminOnly = new(RamScope.Admin);
    private static readonly RamPolicy Anyone = new(RamScope.AnyCaller);

    public static readonly IReadOnlyDictionary<string, RamPolicy> ByAction = new Dictionary<string, RamPolicy>(StringComparer.Ordinal)
    {
        ["ListReleaseVersions"] = Anyone,
        ["ListGpuSpecs"] = Anyone,
        ["ListWorkspaces"] = Anyone,
        ["CreateWorkspace"] = AdminOnly,
        ["UpdateWorkspace"] = AdminOnly,
        ["DeleteWorkspace"] = AdminOnly,
        ["GetWorkspace"] = Viewer,
        ["ListRayCluster"] = Viewer,
        ["GetRayCluster"] = Viewer,
        ["CreateRayCluster"] = Developer,
        ["UpdateRayCluster"] = Developer,
        ["DeleteRayCluster"] = Developer,
        ["StartRayCluster"] = Developer,
        ["StopRayCluster"] = Developer,
        ["SubmitRayJob"] = Developer,
        ["CancelRayJob"] = Developer,
        ["GetRayJob"] = Viewer,
        ["ListRayJob"] = Viewer,
        ["ListRayLogs"] = Viewer,
        ["GetRayLog"] = Viewer,
        ["ListWorkspaceQueues"] = Viewer,
        ["CreateWorkspaceQueue"] = new(RamScope.BodyWorkspace, Roles.Owner),
        ["EditWorkspaceQueue"] = new(RamScope.BodyWorkspace, Roles.Owner),
        ["DeleteWorkspaceQueue"] = Owner,
        ["ListNetworkServices"] = Viewer,
        ["CreateNetworkService"] = Owner,
        ["ListVolumes"] = Viewer,
        ["CreateVolume"] = Owner,
        ["DeleteVolume"] = Owner,
        ["ListWorkspaceMembers"] = Viewer,
        ["AddWorkspaceMember"] = Owner,
        ["RemoveWorkspaceMember"] = Owner,
    };

    public static RamPolicy For(string? action) => action is not null && ByAction.TryGetValue(action, out var p) ? p : AdminOnly;
}

/// <summary>
/// Authorises each request against the caller's role in the workspace it names. A caller without access gets
/// Forbidden.RAM whether or not the workspace exists, so the answer leaks nothing about other workspaces.
/// </summary>
public sealed class RamAuthorizationMiddleware(RequestDelegate next, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        var caller = Caller.Of(context);
        if (endpoint is null || caller is null)
        {
            // No route (InvalidApi.NotFound follows) or an exempt path.
            await next(context);
            return;
        }

        var action = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
        var policy = RamPolicies.For(action);
        var workspaceId = policy.Scope switch
        {
            RamScope.Workspace => context.GetRouteValue("workspaceId") as string,
            RamScope.BodyWorkspace => await BodyWorkspaceAsync(context),
            _ => null,
        };

        if (!await AllowedAsync(context, caller, policy, workspaceId))
        {
            var what = RamPolicies.ActionPrefix + (action ?? "UnknownAction");
            var on = workspaceId is null ? "" : $" on workspace {workspaceId}";
            var db = context.RequestServices.GetRequiredService<RayfleetDbContext>();
            db.Audit.Add(new AuditRow
            {
                Time = time.GetUtcNow().ToUnixTimeMilliseconds(),
                PrincipalId = caller.PrincipalId,
                AccessKeyId = caller.AccessKeyId,
                Action = what,
                WorkspaceId = workspaceId is { Length: <= 64 } ? workspaceId : null,
                Resource = $"{context.Request.Method} {context.Request.Path}",
                Outcome = AuthCodes.Forbidden,
                Status = 403,
                RequestId = context.RequestId(),
                SourceIp = context.Connection.RemoteIpAddress?.ToString(),
            });
            await db.SaveChangesAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            throw new ApiException(403, AuthCodes.Forbidden, $"You are not authorized to perform {what}{on}.");
        }
        await next(context);
    }

    private static async Task<bool> AllowedAsync(HttpContext context, Caller caller, RamPolicy policy, string? workspaceId)
    {
        if (caller.IsAdmin) return true;
        switch (policy.Scope)
        {
            case RamScope.AnyCaller:
                return true;
            case RamScope.Admin:
                return false;
            default:
                // A body without workspaceId gets its MissingParameter answer from the handler, which changes nothing.
                if (workspaceId is null) return policy.Scope == RamScope.BodyWorkspace;
                var role = await RoleAsync(context, caller.PrincipalId, workspaceId);
                return Roles.Rank(role) >= Roles.Rank(policy.MinimumRole);
        }
    }

    public static async Task<string?> RoleAsync(HttpContext context, string principalId, string workspaceId)
    {
        var db = context.RequestServices.GetRequiredService<RayfleetDbContext>();
        return await db.Memberships.AsNoTracking()
            .Where(m => m.WorkspaceId == workspaceId && m.PrincipalId == principalId)
            .Select(m => m.Role)
            .FirstOrDefaultAsync(context.RequestAborted);
    }

    private static async Task<string?> BodyWorkspaceAsync(HttpContext context)
    {
        context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: RayfleetApp.MaxBodyBytes);
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 32 }, context.RequestAborted);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                   && doc.RootElement.TryGetProperty("workspaceId", out var ws) && ws.ValueKind == JsonValueKind.String
                ? ws.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null; // the handler answers InvalidParameter.JSON
        }
        finally
        {
            context.Request.Body.Position = 0;
        }
    }
}
