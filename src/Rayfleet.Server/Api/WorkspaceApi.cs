using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Api;

/// <summary>Workspaces (emr-api.md §10) plus two extensions: get one, delete an empty one.</summary>
public static class WorkspaceApi
{
    public static RouteGroupBuilder MapWorkspaces(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces").WithTags("Workspaces");
        group.MapPost("", Create).WithName("CreateWorkspace").Accepts<CreateWorkspaceRequest>("application/json").Produces<CreateWorkspaceResponse>();
        group.MapGet("", List).WithName("ListWorkspaces").Produces<ListWorkspacesResponse>();
        group.MapGet("/{workspaceId}", Get).WithName("GetWorkspace").Produces<GetWorkspaceResponse>();
        group.MapDelete("/{workspaceId}", Delete).WithName("DeleteWorkspace").Produces<RequestIdResponse>();
        return group;
    }

    public static async Task<IResult> Create(
        HttpContext http, RayfleetDbContext db, MutationRunner runner, IOptions<RayfleetOptions> options, ConfiguredProviders configured,
        TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<CreateWorkspaceRequest>(http.Request);
        return await runner.RunAsync("CreateWorkspace", "", request.ClientToken, request with { ClientToken = null }, () =>
        {
            var problems = new List<Problem>();
            if (request.WorkspaceName is null) problems.Add(new(ErrorCodes.Missing("workspaceName"), "workspaceName", "workspaceName is required."));
            else if (request.WorkspaceName.Length is < 1 or > 64 || request.WorkspaceName.Any(char.IsControl))
                problems.Add(new(ErrorCodes.InvalidParameter, "workspaceName", "The specified parameter workspaceName is not valid: must be 1 to 64 characters without control characters."));
            decimal cu = options.Value.NewWorkspaceQueueCu;
            if (request.ResourceSpec?.Cu is { } cuText
                && (!decimal.TryParse(cuText, NumberStyles.Number, CultureInfo.InvariantCulture, out cu) || cu <= 0 || cu > 1_000_000_000))
                problems.Add(new(ErrorCodes.InvalidParameter, "resourceSpec.cu", $"The specified parameter resourceSpec.cu is not valid: '{cuText}' is not a positive number of CU."));
            var gpu = request.ResourceSpec?.Gpu ?? 0;
            if (gpu < 0) problems.Add(new(ErrorCodes.InvalidParameter, "resourceSpec.gpu", "The specified parameter resourceSpec.gpu is not valid: must not be negative."));
            var provider = request.Provider ?? options.Value.DefaultProvider;
            if (!ProviderNames.Known.Contains(provider))
                problems.Add(new(ErrorCodes.InvalidParameter, "provider", $"The specified parameter provider is not valid: must be one of {string.Join(", ", ProviderNames.Known)}."));
            else if (!configured.Names.Contains(provider))
                problems.Add(new(ErrorCodes.InvalidParameter, "provider",
                    $"The specified parameter provider is not valid: the {provider} provider is not configured on this service ({ConfiguredProviders.HowToConfigure(provider)})"));
            if (problems.Count > 0) throw ApiException.FromProblems(problems);

            var now = time.Now();
            var id = Ids.Workspace();
            db.Workspaces.Add(new WorkspaceRow
            {
                Id = id,
                Name = request.WorkspaceName!,
                Provider = provider,
                RegionId = options.Value.RegionId,
                ResourceSpec = Core.Capacity.Quantity.FormatCu(cu) + "cu",
                AttributesJson = JsonSerializer.Serialize(request with { ClientToken = null, ResourceSpec = null, WorkspaceName = null, Provider = null }),
                CreateTime = now,
            });
            db.Queues.Add(new QueueRow { WorkspaceId = id, Name = ClusterRules.DefaultQueue, Cu = cu, Gpu = gpu, CreateTime = now, Category = gpu > 0 ? "GPU" : "CPU" });
            return Task.FromResult(new Mutation(new CreateWorkspaceResponse(http.RequestId(), id, Ids.Operation())));
        }, ct);
    }

    public static async Task<IResult> List(HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var maxResults = ApiSupport.QueryInt(http.Request, "maxResults", 20, 1, 100);
        var offset = 0;
        if (ApiSupport.Query(http.Request, "nextToken") is { } token
            && (!int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out offset) || offset < 0))
            throw ApiException.Invalid($"The specified parameter nextToken is not valid: '{token}' was not returned by ListWorkspaces.");
        var query = db.Workspaces.AsNoTracking();
        // Everyone sees the workspaces they are a member of; admins see all.
        if (Caller.Of(http) is { IsAdmin: false } caller)
            query = query.Where(w => db.Memberships.Any(m => m.WorkspaceId == w.Id && m.PrincipalId == caller.PrincipalId));
        if (ApiSupport.Query(http.Request, "name") is { } name) query = query.Where(w => w.Name.Contains(name));
        if (ApiSupport.Query(http.Request, "state") is { } state && !string.Equals(state, "RUNNING", StringComparison.OrdinalIgnoreCase))
            query = query.Where(_ => false); // every Rayfleet workspace is RUNNING
        var total = await query.CountAsync(ct);
        // Oldest first so that workspaces created while a client pages through the list land on later pages.
        var rows = await query.OrderBy(w => w.CreateTime).ThenBy(w => w.Id).Skip(offset).Take(maxResults).ToListAsync(ct);
        var next = offset + rows.Count < total ? (offset + rows.Count).ToString(CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new ListWorkspacesResponse
        {
            RequestId = http.RequestId(),
            Workspaces = [.. rows.Select(ToDto)],
            MaxResults = maxResults,
            NextToken = next,
            TotalCount = total,
        });
    }

    public static async Task<IResult> Get(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var row = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return TypedResults.Ok(new GetWorkspaceResponse { RequestId = http.RequestId(), Workspace = ToDto(row) });
    }

    public static async Task<IResult> Delete(string workspaceId, HttpContext http, RayfleetDbContext db, MutationRunner runner, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteWorkspace", workspaceId, ApiSupport.Query(http.Request, "clientToken"), new { workspaceId }, async () =>
        {
            // Tombstoned clusters still count: their resources may not be gone yet.
            var clusters = await db.Clusters.CountAsync(c => c.WorkspaceId == workspaceId, ct);
            if (clusters > 0)
                throw ApiException.Denied($"The workspace still has {clusters} Ray cluster(s); delete them first.");
            db.Queues.RemoveRange(db.Queues.Where(q => q.WorkspaceId == workspaceId));
            db.NetworkServices.RemoveRange(db.NetworkServices.Where(n => n.WorkspaceId == workspaceId));
            db.Volumes.RemoveRange(db.Volumes.Where(v => v.WorkspaceId == workspaceId));
            db.Workspaces.Remove(await db.Workspaces.FirstAsync(w => w.Id == workspaceId, ct));
            return new Mutation(new RequestIdResponse(http.RequestId()));
        }, ct);
    }

    private static WorkspaceDto ToDto(WorkspaceRow row)
    {
        var attributes = JsonSerializer.Deserialize<CreateWorkspaceRequest>(row.AttributesJson) ?? new CreateWorkspaceRequest();
        return new WorkspaceDto
        {
            WorkspaceId = row.Id,
            WorkspaceName = row.Name,
            RegionId = row.RegionId,
            ResourceSpec = row.ResourceSpec,
            DlfCatalogId = attributes.DlfCatalogId,
            DlfType = attributes.DlfType,
            PaymentType = attributes.PaymentType ?? "PayAsYouGo",
            PaymentStatus = "PAID",
            CreateTime = row.CreateTime,
            ReleaseType = attributes.ReleaseType,
            ResourceGroupId = attributes.ResourceGroupId,
            GpuSpec = attributes.GpuSpec?.Where(g => g is not null).Select(g => g!).ToList(),
            Tags = attributes.Tag?.Where(t => t is not null).Select(t => new WorkspaceTagDto(t!.Key, t.Value)).ToList(),
            Provider = row.Provider,
        };
    }
}
