using Microsoft.AspNetCore.Authorization;

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

public sealed record RamPolicy(RamScope Scope, string? MinimumRole = null)
{
    /// <summary>The name of the authorization policy that requires this.</summary>
    public string Name => MinimumRole is null ? $"ram:{Scope}" : $"ram:{Scope}:{MinimumRole}";
}

/// <summary>
/// Which role each action needs, by endpoint name (the EMR action name). An endpoint missing from this table is
/// admin-only, so a new route is closed until someone decides who may call it. Each entry is an authorization policy
/// (<see cref="RamRequirement"/>), attached to the endpoints by <see cref="RamPolicyConventions.RequireRamPolicies"/>.
/// </summary>
public static class RamPolicies
{
    public const string ActionPrefix = "emr-serverless-spark:";

    private static readonly RamPolicy Viewer = new(RamScope.Workspace, Roles.Viewer);
    private static readonly RamPolicy Developer = new(RamScope.Workspace, Roles.Developer);
    private static readonly RamPolicy Owner = new(RamScope.Workspace, Roles.Owner);
    public static readonly RamPolicy AdminOnly = new(RamScope.Admin);
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

    /// <summary>Every distinct policy the table names, the admin-only default included.</summary>
    public static IEnumerable<RamPolicy> All => ByAction.Values.Append(AdminOnly).Distinct();
}

public static class RamPolicyConventions
{
    /// <summary>
    /// Requires, on every endpoint of the group (or the endpoint), the policy that <see cref="RamPolicies"/> gives its
    /// name: admin-only where the table has no entry.
    /// </summary>
    public static TBuilder RequireRamPolicies<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
    {
        // Finally: the endpoint's own WithName runs after the group's conventions.
        builder.Finally(endpoint =>
        {
            var action = endpoint.Metadata.OfType<IEndpointNameMetadata>().LastOrDefault()?.EndpointName;
            endpoint.Metadata.Add(new AuthorizeAttribute(RamPolicies.For(action).Name));
        });
        return builder;
    }
}
