using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Workspaces;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Api;

/// <summary>Workspaces (emr-api.md §10) plus two extensions: get one, delete an empty one.</summary>
/// <remarks>
/// A workspace's CU and GPUs are the capacity of its root queue: CreateWorkspace makes <c>root_queue</c> of
/// <c>resourceSpec</c>, UpdateWorkspace's <c>cu</c>/<c>gpu</c> resize it (never below what admitted clusters hold) and
/// the workspace's <c>resourceSpec</c> follows <c>cu</c>. Payment and subscription terms are stored and listed, not acted
/// on: a self-hosted service bills nothing.
/// </remarks>
public static class WorkspaceApi
{
    public static RouteGroupBuilder MapWorkspaces(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces").WithTags("Workspaces").RequireRamPolicies();
        group.MapPost("", Create).WithName("CreateWorkspace").Accepts<CreateWorkspaceRequest>("application/json");
        group.MapGet("", List).WithName("ListWorkspaces");
        // A literal segment outranks {workspaceId}, so this route is never read as a workspace called "update".
        group.MapPost("/update", Update).WithName("UpdateWorkspace").Accepts<UpdateWorkspaceRequest>("application/json");
        group.MapGet("/{workspaceId}", Get).WithName("GetWorkspace");
        group.MapDelete("/{workspaceId}", Delete).WithName("DeleteWorkspace");
        return group;
    }

    public static async Task<JsonAnswer<CreateWorkspaceResponse>> Create(
        HttpContext http, RayfleetDbContext db, MutationRunner runner, IOptions<RayfleetOptions> options, ConfiguredProviders configured,
        Catalogs catalogs, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<CreateWorkspaceRequest>(http.Request);
        return await runner.RunAsync("CreateWorkspace", "", request.ClientToken, request with { ClientToken = null }, () =>
        {
            var problems = new List<Problem>();
            WorkspaceRules.CheckName(request.WorkspaceName, required: true, problems);
            decimal cu = options.Value.NewWorkspaceQueueCu;
            if (request.ResourceSpec?.Cu is { } cuText
                && (!decimal.TryParse(cuText, NumberStyles.Number, CultureInfo.InvariantCulture, out cu) || cu <= 0 || cu > WorkspaceRules.MaxCu))
                problems.Add(new(ErrorCodes.InvalidParameter, "resourceSpec.cu", $"The specified parameter resourceSpec.cu is not valid: '{cuText}' is not a positive number of CU."));
            var gpu = request.ResourceSpec?.Gpu ?? 0;
            WorkspaceRules.CheckGpu(gpu, "resourceSpec.gpu", problems);
            WorkspaceRules.CheckGpuSpec(request.GpuSpec, new RulesCatalog(catalogs, []), problems);
            WorkspaceRules.CheckPaymentTerms("", request.AutoRenew, request.Duration, request.AutoRenewPeriod, problems);
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
                ResourceSpec = ResourceSpecOf(cu),
                AttributesJson = JsonSerializer.Serialize(WorkspaceAttributes.Of(request), ServerJson.Default.WorkspaceAttributes),
                CreateTime = now,
            });
            db.Queues.Add(new QueueRow { WorkspaceId = id, Name = ClusterRules.DefaultQueue, Cu = cu, Gpu = gpu, CreateTime = now, Category = gpu > 0 ? "GPU" : "CPU" });
            return Task.FromResult(Mutation.Of(new CreateWorkspaceResponse(http.RequestId(), id, Ids.Operation())));
        }, ct);
    }

    /// <summary>
    /// UpdateWorkspace (emr-api.md §10.3), a merge: a field that is absent or null keeps its value. Admin only, like
    /// CreateWorkspace. The idempotency token is <c>subscription.clientToken</c>, or top-level <c>clientToken</c>.
    /// </summary>
    public static async Task<JsonAnswer<UpdateWorkspaceResponse>> Update(
        HttpContext http, RayfleetDbContext db, MutationRunner runner, Catalogs catalogs, KeyedGates gates, IReconcileTrigger reconciler,
        TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<UpdateWorkspaceRequest>(http.Request);
        if (request.WorkspaceId is not { } workspaceId)
            throw ApiException.FromProblems([new(ErrorCodes.Missing("workspaceId"), "workspaceId", "workspaceId is required.")]);
        if (request.ClientToken is { } top && request.Subscription?.ClientToken is { } inSubscription && top != inSubscription)
            throw ApiException.FromProblems([new(ErrorCodes.InvalidParameter, "clientToken",
                "The specified parameter clientToken is not valid: it differs from subscription.clientToken; send the token once, or the same in both.")]);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var clientToken = request.ClientToken ?? request.Subscription?.ClientToken;
        // What the token stands for: the change, wherever the token came, and a nested object of nulls is no object.
        var subscription = request.Subscription is { } s ? s with { ClientToken = null } : null;
        var parameters = request with
        {
            ClientToken = null,
            Subscription = subscription == new WorkspaceSubscriptionDto() ? null : subscription,
            GpuSubscription = request.GpuSubscription == new GpuSubscriptionDto() ? null : request.GpuSubscription,
        };

        // Each update reads the row's attributes, merges and writes them back: one at a time per workspace, so that two
        // concurrent merges never lose one another's fields.
        using var gate = await gates.EnterAsync("UpdateWorkspace:" + workspaceId, ct);
        return await runner.RunAsync("UpdateWorkspace", workspaceId, clientToken, parameters, async () =>
        {
            var row = await db.Workspaces.FirstOrDefaultAsync(w => w.Id == workspaceId, ct)
                      ?? throw ApiException.NotFound(ErrorCodes.WorkspaceNotFound, $"Workspace '{workspaceId}' does not exist.");
            var queues = await db.Queues.Where(q => q.WorkspaceId == workspaceId).ToListAsync(ct);
            var problems = WorkspaceRules.ValidateUpdate(request, new RulesCatalog(catalogs, [.. queues.Select(q => q.Name)])).ToList();
            var root = queues.FirstOrDefault(q => q.Name == ClusterRules.DefaultQueue);
            if (root is not null && (request.Cu is not null || request.Gpu is not null))
            {
                var used = await QueueAdmissionService.UsedAsync(db, workspaceId, null, ct);
                WorkspaceRules.CheckCapacityInUse(request.Cu, request.Gpu, root.Name, used.For(root.Name), problems);
            }
            if (problems.Count > 0) throw ApiException.FromProblems(problems);

            if (request.WorkspaceName is { } name) row.Name = name;
            if (request.Cu is { } cu) row.ResourceSpec = ResourceSpecOf(cu);
            row.AttributesJson = JsonSerializer.Serialize(WorkspaceAttributes.Read(row).Merge(request), ServerJson.Default.WorkspaceAttributes);

            var capacityChanged = false;
            if (request.Cu is not null || request.Gpu is not null)
            {
                if (root is null)
                {
                    // The root queue is the workspace's capacity; one deleted by hand comes back with the new figures.
                    root = new QueueRow { WorkspaceId = workspaceId, Name = ClusterRules.DefaultQueue, Cu = CuOf(row.ResourceSpec), CreateTime = time.Now() };
                    db.Queues.Add(root);
                }
                if (request.Cu is { } newCu && root.Cu != newCu) (root.Cu, capacityChanged) = (newCu, true);
                if (request.Gpu is { } newGpu)
                {
                    if (root.Gpu != newGpu) (root.Gpu, capacityChanged) = (newGpu, true);
                    root.Category = newGpu > 0 ? "GPU" : "CPU"; // as CreateWorkspace labels it
                }
            }
            // A larger root queue may admit clusters that wait; read them now, wake them once the change is committed.
            var waiting = capacityChanged ? await QueueAdmissionService.WaitingAsync(db, workspaceId, ct) : [];
            var orderId = Ids.Operation();
            return Mutation.Of(new UpdateWorkspaceResponse(http.RequestId(), orderId, new UpdateWorkspaceOrderDto(orderId)), () =>
            {
                foreach (var id in waiting) reconciler.Enqueue(id);
            });
        }, ct);
    }

    public static async Task<Ok<ListWorkspacesResponse>> List(HttpContext http, RayfleetDbContext db, CancellationToken ct)
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

    public static async Task<Ok<GetWorkspaceResponse>> Get(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var row = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return TypedResults.Ok(new GetWorkspaceResponse { RequestId = http.RequestId(), Workspace = ToDto(row) });
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Delete(string workspaceId, HttpContext http, RayfleetDbContext db, MutationRunner runner, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteWorkspace", workspaceId, ApiSupport.Query(http.Request, "clientToken"), new Parameter("workspaceId", workspaceId), async () =>
        {
            // Tombstoned clusters still count: their resources may not be gone yet.
            var clusters = await db.Clusters.CountAsync(c => c.WorkspaceId == workspaceId, ct);
            if (clusters > 0)
                throw ApiException.Denied($"The workspace still has {clusters} Ray cluster(s); delete them first.");
            db.Queues.RemoveRange(db.Queues.Where(q => q.WorkspaceId == workspaceId));
            db.NetworkServices.RemoveRange(db.NetworkServices.Where(n => n.WorkspaceId == workspaceId));
            db.Volumes.RemoveRange(db.Volumes.Where(v => v.WorkspaceId == workspaceId));
            db.Workspaces.Remove(await db.Workspaces.FirstAsync(w => w.Id == workspaceId, ct));
            return Mutation.Of(new RequestIdResponse(http.RequestId()));
        }, ct);
    }

    private static string ResourceSpecOf(decimal cu) => Core.Capacity.Quantity.FormatCu(cu) + "cu";

    private static decimal CuOf(string? resourceSpec) =>
        resourceSpec is { Length: > 2 } && resourceSpec.EndsWith("cu", StringComparison.Ordinal)
        && decimal.TryParse(resourceSpec[..^2], NumberStyles.Number, CultureInfo.InvariantCulture, out var cu) ? cu : 0;

    private static WorkspaceDto ToDto(WorkspaceRow row)
    {
        var attributes = WorkspaceAttributes.Read(row);
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
            PaymentDurationUnit = attributes.PaymentDurationUnit,
            Duration = WorkspaceRules.ParsePositiveInt(attributes.Duration),
            AutoRenew = WorkspaceRules.ParseBool(attributes.AutoRenew),
            AutoRenewPeriod = WorkspaceRules.ParsePositiveInt(attributes.AutoRenewPeriod),
            AutoRenewPeriodUnit = attributes.AutoRenewPeriodUnit,
            CreateTime = row.CreateTime,
            ReleaseType = attributes.ReleaseType,
            ResourceGroupId = attributes.ResourceGroupId,
            GpuSpec = attributes.GpuSpec?.Where(g => g is not null).Select(g => g!).ToList(),
            IpWhiteList = attributes.IpWhiteList?.Where(e => e is not null).Select(e => e!).ToList(),
            Tags = attributes.Tag?.Where(t => t is not null).Select(t => new WorkspaceTagDto(t!.Key, t.Value)).ToList(),
            Provider = row.Provider,
        };
    }

    private sealed class RulesCatalog(Catalogs catalogs, IReadOnlyCollection<string> queues) : IWorkspaceCatalog
    {
        public bool GpuTypeExists(string instanceType) => catalogs.GpuTypes.ContainsKey(instanceType);
        public bool QueueExists(string queueName) => queues.Contains(queueName, StringComparer.Ordinal);
    }
}

/// <summary>
/// What <see cref="WorkspaceRow.AttributesJson"/> holds: the workspace's settings that Rayfleet keeps and lists without
/// acting on them, under their CreateWorkspace wire names (rows written before UpdateWorkspace read the same).
/// </summary>
internal sealed record WorkspaceAttributes
{
    [JsonPropertyName("ossBucket")] public string? OssBucket { get; init; }
    [JsonPropertyName("ramRoleName")] public string? RamRoleName { get; init; }
    [JsonPropertyName("paymentType")] public string? PaymentType { get; init; }
    [JsonPropertyName("paymentDurationUnit")] public string? PaymentDurationUnit { get; init; }
    [JsonPropertyName("duration")] public string? Duration { get; init; }
    [JsonPropertyName("autoRenew")] public string? AutoRenew { get; init; }
    [JsonPropertyName("autoRenewPeriod")] public string? AutoRenewPeriod { get; init; }
    [JsonPropertyName("autoRenewPeriodUnit")] public string? AutoRenewPeriodUnit { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string?>? GpuSpec { get; init; }
    [JsonPropertyName("autoStartSessionCluster")] public bool? AutoStartSessionCluster { get; init; }
    [JsonPropertyName("dlfCatalogId")] public string? DlfCatalogId { get; init; }
    [JsonPropertyName("dlfType")] public string? DlfType { get; init; }
    [JsonPropertyName("releaseType")] public string? ReleaseType { get; init; }
    [JsonPropertyName("resourceGroupId")] public string? ResourceGroupId { get; init; }
    [JsonPropertyName("tag")] public List<TagDto?>? Tag { get; init; }
    [JsonPropertyName("ipWhiteList")] public List<string?>? IpWhiteList { get; init; }

    public static WorkspaceAttributes Read(WorkspaceRow row) =>
        JsonSerializer.Deserialize(row.AttributesJson, ServerJson.Default.WorkspaceAttributes) ?? new WorkspaceAttributes();

    public static WorkspaceAttributes Of(CreateWorkspaceRequest request) => new()
    {
        OssBucket = request.OssBucket,
        RamRoleName = request.RamRoleName,
        PaymentType = request.PaymentType,
        PaymentDurationUnit = request.PaymentDurationUnit,
        Duration = request.Duration,
        AutoRenew = request.AutoRenew,
        AutoRenewPeriod = request.AutoRenewPeriod,
        AutoRenewPeriodUnit = request.AutoRenewPeriodUnit,
        GpuSpec = request.GpuSpec,
        AutoStartSessionCluster = request.AutoStartSessionCluster,
        DlfCatalogId = request.DlfCatalogId,
        DlfType = request.DlfType,
        ReleaseType = request.ReleaseType,
        ResourceGroupId = request.ResourceGroupId,
        Tag = request.Tag,
    };

    /// <summary>A present field replaces, an absent or null one keeps; a present list replaces the whole list.</summary>
    public WorkspaceAttributes Merge(UpdateWorkspaceRequest request)
    {
        var subscription = request.Subscription;
        return this with
        {
            GpuSpec = request.GpuSpec ?? GpuSpec,
            ResourceGroupId = request.ResourceGroupId ?? ResourceGroupId,
            IpWhiteList = request.IpWhiteList ?? IpWhiteList,
            PaymentDurationUnit = subscription?.PaymentDurationUnit ?? PaymentDurationUnit,
            Duration = subscription?.Duration ?? Duration,
            AutoRenew = subscription?.AutoRenew ?? AutoRenew,
            AutoRenewPeriod = subscription?.AutoRenewPeriod ?? AutoRenewPeriod,
            AutoRenewPeriodUnit = subscription?.AutoRenewPeriodUnit ?? AutoRenewPeriodUnit,
        };
    }
}
