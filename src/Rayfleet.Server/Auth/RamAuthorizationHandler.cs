using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

/// <summary>The caller needs <see cref="Policy"/>: a role in a workspace, the admin role, or just to be signed in.</summary>
public sealed record RamRequirement(RamPolicy Policy) : IAuthorizationRequirement;

/// <summary>
/// The fallback for everything that names no policy: exempt paths are open, a request that matched no route needs a
/// signed caller (its InvalidApi.NotFound follows), and an endpoint is admin-only, closed until someone decides.
/// </summary>
public sealed record UnlistedEndpointRequirement : IAuthorizationRequirement;

/// <summary>Why a signed caller was refused: the action and workspace of the Forbidden.RAM answer.</summary>
public sealed class RamDenial(IAuthorizationHandler handler, string action, string? workspaceId)
    : AuthorizationFailureReason(handler, $"You are not authorized to perform {action}{(workspaceId is null ? "" : $" on workspace {workspaceId}")}.")
{
    public string Action { get; } = action;
    public string? WorkspaceId { get; } = workspaceId;
}

/// <summary>
/// Decides <see cref="RamRequirement"/> and <see cref="UnlistedEndpointRequirement"/> against the caller's role in
/// the workspace the request names. A caller without access is denied whether or not the workspace exists, so the
/// answer leaks nothing about other workspaces; a request without a caller is left undecided (challenged).
/// </summary>
public sealed class RamAuthorizationHandler : IAuthorizationHandler
{
    public async Task HandleAsync(AuthorizationHandlerContext context)
    {
        if (context.Resource is not HttpContext http) return;
        foreach (var requirement in context.PendingRequirements.ToList())
        {
            var policy = requirement switch
            {
                RamRequirement ram => ram.Policy,
                UnlistedEndpointRequirement => RamPolicies.AdminOnly,
                _ => null,
            };
            if (policy is null) continue;
            if (SignatureRules.IsExempt(http.Request.Path))
            {
                context.Succeed(requirement);
                continue;
            }
            var caller = Caller.From(context.User);
            if (caller is null) continue;
            var endpoint = http.GetEndpoint();
            if (endpoint is null)
            {
                context.Succeed(requirement); // no route: InvalidApi.NotFound follows
                continue;
            }

            var workspaceId = policy.Scope switch
            {
                RamScope.Workspace => http.GetRouteValue("workspaceId") as string,
                RamScope.BodyWorkspace => await BodyWorkspaceAsync(http),
                _ => null,
            };
            if (await AllowedAsync(http, caller, policy, workspaceId))
                context.Succeed(requirement);
            else
            {
                var action = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
                context.Fail(new RamDenial(this, RamPolicies.ActionPrefix + (action ?? "UnknownAction"), workspaceId));
            }
        }
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

    private static async Task<string?> RoleAsync(HttpContext context, string principalId, string workspaceId)
    {
        var db = context.RequestServices.GetRequiredService<RayfleetDbContext>();
        return await db.Memberships.AsNoTracking()
            .Where(m => m.WorkspaceId == workspaceId && m.PrincipalId == principalId)
            .Select(m => m.Role)
            .FirstOrDefaultAsync(context.RequestAborted);
    }

    private static async Task<string?> BodyWorkspaceAsync(HttpContext context)
    {
        var body = await JsonBody.ReadBoundedAsync(context.Request);
        try
        {
            using var doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            return doc.RootElement.ValueKind == JsonValueKind.Object
                   && doc.RootElement.TryGetProperty("workspaceId", out var ws) && ws.ValueKind == JsonValueKind.String
                ? ws.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null; // the handler answers InvalidParameter.JSON
        }
    }
}
