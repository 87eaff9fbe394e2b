using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>Network services (emr-api.md §9): only Create and List exist on the wire. Clusters refer to them by name.</summary>
public static class NetworkServiceApi
{
    public static RouteGroupBuilder MapNetworkServices(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/networkServices").WithTags("Network services").RequireRamPolicies();
        group.MapPost("", Create).WithName("CreateNetworkService").Accepts<CreateNetworkServiceRequest>("application/json");
        group.MapGet("", List).WithName("ListNetworkServices");
        return group;
    }

    public static async Task<JsonAnswer<CreateNetworkServiceResponse>> Create(string workspaceId, HttpContext http, RayfleetDbContext db, MutationRunner runner, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<CreateNetworkServiceRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("CreateNetworkService", workspaceId, request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var problems = new List<Problem>();
            await ApiSupport.CheckUniqueNameAsync(problems, request.Name, "network service",
                name => db.NetworkServices.AnyAsync(n => n.WorkspaceId == workspaceId && n.Name == name, ct));
            if (request.VswitchIds?.Any(v => string.IsNullOrEmpty(v)) == true)
                problems.Add(new(ErrorCodes.InvalidParameter, "vswitchIds", "The specified parameter vswitchIds is not valid: entries must be non-empty strings."));
            if (problems.Count > 0) throw ApiException.FromProblems(problems);

            var id = Ids.NetworkService();
            db.NetworkServices.Add(new NetworkServiceRow
            {
                Id = id,
                WorkspaceId = workspaceId,
                Name = request.Name!,
                Type = request.Type ?? "NetworkService",
                VpcId = request.VpcId,
                VswitchIdsJson = JsonSerializer.Serialize(request.VswitchIds ?? [], WireJson.Default.ListString),
                SecurityGroupId = request.SecurityGroupId,
                CreateTime = time.Now(),
            });
            return Mutation.Of(new CreateNetworkServiceResponse(http.RequestId(), Ids.Operation(), id));
        }, ct);
    }

    public static async Task<Ok<ListNetworkServicesResponse>> List(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var rows = await db.NetworkServices.AsNoTracking().Where(n => n.WorkspaceId == workspaceId).OrderBy(n => n.CreateTime).ThenBy(n => n.Id).ToListAsync(ct);
        var items = rows.Select(n => new NetworkServiceDto
        {
            Name = n.Name,
            NetworkServiceId = n.Id,
            StateChangeReason = new StateChangeReasonDto(null, null),
            Type = n.Type,
            VpcId = n.VpcId,
            VswitchIds = JsonSerializer.Deserialize(n.VswitchIdsJson, WireJson.Default.ListString) ?? [],
            SecurityGroupId = n.SecurityGroupId,
            WorkspaceId = n.WorkspaceId,
        }).ToList();
        return TypedResults.Ok(new ListNetworkServicesResponse
        {
            RequestId = http.RequestId(),
            NetworkServices = items,
            Queues = items,
            MaxResults = items.Count,
            TotalCount = items.Count,
        });
    }
}
