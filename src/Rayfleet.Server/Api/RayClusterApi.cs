using System.Linq.Expressions;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Api;

/// <summary>
/// Ray cluster routes (emr-api.md §5). Handlers write desired state and wake the reconciler; they never call a
/// provider.
/// </summary>
public static class RayClusterApi
{
    public static RouteGroupBuilder MapRayClusters(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/rayCluster").WithTags("Ray clusters").RequireRamPolicies();
        group.MapPost("", Create).WithName("CreateRayCluster").Accepts<RayClusterRequest>("application/json");
        group.MapGet("", List).WithName("ListRayCluster");
        group.MapGet("/{clusterId}", Get).WithName("GetRayCluster");
        group.MapPost("/{clusterId}", Update).WithName("UpdateRayCluster").Accepts<RayClusterRequest>("application/json");
        group.MapDelete("/{clusterId}", Delete).WithName("DeleteRayCluster");
        group.MapPost("/{clusterId}/start", Start).WithName("StartRayCluster").Accepts<StartRayClusterRequest>("application/json");
        group.MapPost("/{clusterId}/stop", Stop).WithName("StopRayCluster").Accepts<StopRayClusterRequest>("application/json");
        return group;
    }

    public static async Task<JsonAnswer<CreateRayClusterResponse>> Create(
        string workspaceId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, IDataProtectionProvider protection, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<RayClusterRequest>(http.Request);
        var workspace = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("CreateRayCluster", workspaceId, request.ClientToken, request, async () =>
        {
            var (spec, catalog) = await ValidateAsync(db, catalogs, workspace, request with { ClientToken = null }, ct);
            spec = ClusterSecrets.ProtectRedisPassword(spec, previous: null, protection);
            CheckCapacity(catalogs, catalog, spec, workspace.Provider);

            var row = StageNew(db, catalogs, workspace, spec, Caller.Of(http)?.PrincipalId, time.Now(), jobId: null);
            var id = row.Id;
            return Mutation.Of(new CreateRayClusterResponse(http.RequestId(), id), () => reconciler.Enqueue(id));
        }, ct);
    }

    /// <summary>
    /// Stages a new cluster that asks to run at once, with its place in line for admission and its demand, in the
    /// caller's transaction: CreateRayCluster's, or SubmitRayJob's for a job-mode cluster.
    /// </summary>
    internal static ClusterRow StageNew(
        RayfleetDbContext db, Catalogs catalogs, WorkspaceRow workspace, ClusterSpec spec, string? principal, long now, string? jobId)
    {
        var id = Ids.Cluster();
        var row = new ClusterRow
        {
            Id = id,
            WorkspaceId = workspace.Id,
            Provider = workspace.Provider,
            Name = spec.Name,
            SpecJson = spec.ToJson(),
            ListSpecJson = spec.ForListing().ToJson(),
            Generation = 1,
            DesiredRunning = true,
            InstanceId = Ids.Instance(id),
            CreateTime = now,
            StartTime = now,
            ModifiedTime = now,
            QueuedAt = now,
            SubmitToken = Ids.SubmitToken(),
            Creator = principal,
            Modifier = principal,
            JobId = jobId,
        };
        db.Clusters.Add(row);
        // Its place in line for admission (QueuedAt) and what it asks for are known now, in the same transaction.
        db.Demands.AddRange(QueueAdmissionService.DemandRows(id, workspace.Id, catalogs.Demand(spec, row.Provider)));
        return row;
    }

    public static async Task<StreamedList<ListRayClusterResponse, RayClusterSummaryDto>> List(string workspaceId, HttpContext http, RayfleetDbContext db, TimeProvider time, CancellationToken ct)
    {
        var now = time.Now();
        var pageNum = ApiSupport.QueryInt(http.Request, "pageNum", 1, 1, int.MaxValue);
        var pageSize = ApiSupport.QueryInt(http.Request, "pageSize", 20, 1, 100);
        // The total, the page's place in the index and its rows from one snapshot: they agree under concurrent writes.
        var snapshot = await ReadSnapshot.BeginAsync(db, ct);
        try
        {
            var totals = await ApiSupport.RequireWorkspaceTotalsAsync(db, workspaceId, ct);
            var page = ListPage.Of(totals.LiveClusters, pageNum, pageSize);
            var live = db.Clusters.AsNoTracking().Where(c => c.WorkspaceId == workspaceId && !c.Deleted);
            // The page's ids from the index alone (IX WorkspaceId, CreateTime, Id, Deleted), from its nearer end...
            var ids = page.Take == 0 ? [] : await (page.OldestFirst
                    ? live.OrderBy(c => c.CreateTime).ThenBy(c => c.Id)
                    : live.OrderByDescending(c => c.CreateTime).ThenByDescending(c => c.Id))
                .Skip(page.Skip).Take(page.Take).Select(c => c.Id).ToListAsync(ct);
            // ...then those rows, newest first, item by item from the store to the socket: a page of a hundred
            // clusters is never held whole.
            var rows = db.Clusters.AsNoTracking()
                .Where(c => ids.Contains(c.Id))
                .OrderByDescending(c => c.CreateTime).ThenByDescending(c => c.Id)
                .Select(ClusterViews.ListColumns(db))
                .AsAsyncEnumerable();
            return new StreamedList<ListRayClusterResponse, RayClusterSummaryDto>(http.RequestId(), "rayClusters",
                snapshot.Around(rows.Select(row => ClusterViews.Summary(row, now)), ct), (int)totals.LiveClusters);
        }
        catch
        {
            await snapshot.DisposeAsync();
            throw;
        }
    }

    /// <summary>A cluster with the names of its creator and last modifier.</summary>
    private sealed record ClusterWithNames(ClusterRow Row, string? CreatorName, string? ModifierName);

    /// <summary>Get's query, translated once: the hot read skips EF's expression funcletizing and query-cache lookup.</summary>
    private static readonly Func<RayfleetDbContext, string, string, CancellationToken, Task<ClusterWithNames?>> GetQuery =
        EF.CompileAsyncQuery((RayfleetDbContext db, string workspaceId, string clusterId, CancellationToken ct) =>
            db.Clusters.AsNoTracking()
                .Where(c => c.Id == clusterId && c.WorkspaceId == workspaceId && !c.Deleted)
                .Select(c => new ClusterWithNames(
                    c,
                    db.Principals.Where(p => p.Id == c.Creator).Select(p => p.Name).FirstOrDefault(),
                    db.Principals.Where(p => p.Id == c.Modifier).Select(p => p.Name).FirstOrDefault()))
                .FirstOrDefault());

    public static async Task<Ok<GetRayClusterResponse>> Get(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, TimeProvider time, CancellationToken ct)
    {
        // One query on the hit path: a live cluster of the workspace implies the workspace (a workspace with clusters,
        // tombstones included, cannot be deleted). Only a miss asks which of the two is missing.
        var found = await GetQuery(db, workspaceId, clusterId, ct);
        if (found is null)
        {
            await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
            throw ClusterNotFound(clusterId);
        }
        var row = found.Row;
        return TypedResults.Ok(ClusterViews.Detail(row, http.RequestId(), found.CreatorName, found.ModifierName,
            ClusterUsage.Current(row, catalogs, time.Now())));
    }

    public static async Task<JsonAnswer<CreateRayClusterResponse>> Update(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, IDataProtectionProvider protection, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<RayClusterRequest>(http.Request);
        var workspace = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("UpdateRayCluster", $"{workspaceId}/{clusterId}", request.ClientToken, request, async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            var state = ClusterStatusView.Of(row).State;
            if (Lifecycle.Update(state) == LifecycleVerdict.Denied)
                throw ApiException.Denied($"The cluster cannot be updated while it is {state}.");

            var current = ClusterSpec.FromJson(row.SpecJson);
            var merged = ClusterSpecMapping.Merge(current, request with { ClientToken = null });
            var (spec, catalog) = await ValidateAsync(db, catalogs, workspace, merged, ct);
            spec = ClusterSecrets.ProtectRedisPassword(spec, current, protection);
            CheckCapacity(catalogs, catalog, spec, row.Provider);

            var json = spec.ToJson();
            if (json != row.SpecJson)
            {
                row.SetSpec(spec);
                row.Generation++;
                row.ModifiedTime = time.Now();
                row.Modifier = Caller.Of(http)?.PrincipalId;
                await ReplaceDemandAsync(db, catalogs, row, spec, ct);
            }
            return Mutation.Of(new CreateRayClusterResponse(http.RequestId(), clusterId), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Delete(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, MutationRunner runner,
        IReconcileTrigger reconciler, TimeProvider time, CancellationToken ct)
    {
        var token = ApiSupport.Query(http.Request, "clientToken");
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteRayCluster", $"{workspaceId}/{clusterId}", token, new Parameter("clusterId", clusterId), async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            // A tombstone: gone from Get and List now; the reconciler removes the row once the provider confirms.
            row.Deleted = true;
            row.DesiredRunning = false;
            row.Generation++;
            row.ModifiedTime = time.Now();
            return Mutation.Of(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Start(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<StartRayClusterRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("StartRayCluster", $"{workspaceId}/{clusterId}", request.ClientToken, new Parameter("clusterId", clusterId), async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            var state = ClusterStatusView.Of(row).State;
            switch (Lifecycle.Start(state))
            {
                case LifecycleVerdict.Denied:
                    throw ApiException.Denied($"The cluster cannot be started while it is {state}; wait until it is Stopped.");
                case LifecycleVerdict.Proceed:
                    var now = time.Now();
                    row.DesiredRunning = true;
                    row.InstanceId = Ids.Instance(row.Id);
                    row.Generation++;
                    row.StartTime = now;
                    row.QueuedAt = now;
                    row.StopReason = null;
                    row.Modifier = Caller.Of(http)?.PrincipalId;
                    break;
            }
            return Mutation.Of(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Stop(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, MutationRunner runner,
        IReconcileTrigger reconciler, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<StopRayClusterRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("StopRayCluster", $"{workspaceId}/{clusterId}", request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            if (request.InstanceId is not null && request.InstanceId != row.InstanceId)
                throw ApiException.Invalid($"The specified parameter instanceId is not valid: '{request.InstanceId}' is not the current instance of the cluster ({row.InstanceId}).");
            if (Lifecycle.Stop(ClusterStatusView.Of(row).State) == LifecycleVerdict.Proceed)
            {
                row.DesiredRunning = false;
                row.Generation++;
                row.StopReason = null;
                row.Modifier = Caller.Of(http)?.PrincipalId;
            }
            return Mutation.Of(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    internal static async Task<ClusterRow> FindAsync(RayfleetDbContext db, string workspaceId, string clusterId, CancellationToken ct) =>
        await db.Clusters.FirstOrDefaultAsync(c => c.Id == clusterId && c.WorkspaceId == workspaceId && !c.Deleted, ct)
        ?? throw ClusterNotFound(clusterId);

    /// <summary>The demand index follows the desired spec (semantics: a waiting cluster is admitted with what it asks now).</summary>
    private static async Task ReplaceDemandAsync(RayfleetDbContext db, Catalogs catalogs, ClusterRow row, ClusterSpec spec, CancellationToken ct)
    {
        db.Demands.RemoveRange(await db.Demands.Where(d => d.ClusterId == row.Id).ToListAsync(ct));
        db.Demands.AddRange(QueueAdmissionService.DemandRows(row.Id, row.WorkspaceId, catalogs.Demand(spec, row.Provider)));
    }

    internal static ApiException ClusterNotFound(string clusterId) =>
        ApiException.NotFound(ErrorCodes.ClusterNotFound, $"Ray cluster '{clusterId}' does not exist in the workspace.");

    internal static async Task<(ClusterSpec Spec, WorkspaceCatalog Catalog)> ValidateAsync(
        RayfleetDbContext db, Catalogs catalogs, WorkspaceRow workspace, RayClusterRequest request, CancellationToken ct)
    {
        var catalog = db.WorkspaceCache is { } cache
            ? await cache.CatalogAsync(db, workspace.Id, ct)
            : await WorkspaceCatalog.LoadAsync(db, catalogs, workspace.Id, ct);
        var (spec, problems) = ClusterRules.Validate(request, catalog);
        // What KubeRay would refuse at reconcile time is refused here, where the caller sees it.
        if (workspace.Provider == ProviderNames.Kubernetes) problems = [.. problems, .. KubeRayRules.Check(request)];
        if (problems.Count > 0) throw ApiException.FromProblems(problems);
        return (spec!, catalog);
    }

    /// <summary>A cluster that can never fit its queues is refused now; one that only has to wait is accepted.</summary>
    internal static void CheckCapacity(Catalogs catalogs, WorkspaceCatalog catalog, ClusterSpec spec, string provider)
    {
        var decision = QueueAdmission.Decide(catalogs.Demand(spec, provider), catalog.Capacities, new QueueDemand());
        if (decision.Verdict == AdmissionVerdict.NeverFits)
            throw new ApiException(400, ErrorCodes.QuotaExceeded, decision.Message);
    }
}

internal static class ClusterViews
{
    public static async Task<IReadOnlyDictionary<string, string>> PrincipalNamesAsync(RayfleetDbContext db, IEnumerable<string?> principals, CancellationToken ct)
    {
        var ids = principals.Where(i => i is not null).Distinct().ToList();
        return ids.Count == 0
            ? new Dictionary<string, string>()
            : await db.Principals.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, p => p.Name, ct);
    }

    public static GetRayClusterResponse Detail(ClusterRow row, string requestId, string? creatorName, string? modifierName, Usage usage)
    {
        var spec = ClusterSpec.FromJson(row.SpecJson);
        var status = ClusterStatusView.Of(row, spec);
        return new GetRayClusterResponse
        {
            RequestId = requestId,
            ClusterId = row.Id,
            InstanceId = row.InstanceId,
            Name = spec.Name,
            Description = spec.Description,
            DisplayReleaseVersion = spec.DisplayReleaseVersion,
            NetworkServiceName = spec.NetworkServiceName,
            ExtraParam = spec.ExtraParam,
            HeadSpec = ClusterSpecMapping.ToHeadDto(spec.Head),
            WorkerSpec = [.. spec.Workers.Select(ClusterSpecMapping.ToWorkerDto)],
            VolumeIds = [.. spec.VolumeIds],
            State = status.State,
            Message = status.Message,
            Modified = status.Modified,
            CreateTime = row.CreateTime,
            StartTime = row.StartTime,
            ModifiedTime = row.ModifiedTime,
            Creator = row.Creator,
            CreatorName = creatorName,
            Modifier = row.Modifier,
            ModifierName = modifierName,
            DashboardUrl = status.NewInstance ? null : row.DashboardUrl,
            JobUrl = status.NewInstance ? null : row.JobUrl,
            JobUrlInner = status.NewInstance ? null : row.JobUrlInner,
            GrpcEndpoint = status.NewInstance ? null : row.GrpcEndpoint,
            SubmitToken = row.SubmitToken,
            Instances = status.NewInstance ? [] : JsonSerializer.Deserialize(row.NodesJson, WireJson.Default.ListRayNodeDto) ?? [],
            JobSubmissionId = row.JobId,
            CuHours = usage.CuHours,
            GuHours = GuHours(usage, spec),
        };
    }

    /// <summary>
    /// What a List item needs of a row: the listing spec and the small columns. The whole spec and the spec the
    /// instance runs (each up to tens of kilobytes) are read only for a row whose accepted change is not observed yet,
    /// to say whether it needs a restart; the node list never. The principals' names come in the same query.
    /// </summary>
    public sealed record ListRow(
        string Id, string ListSpecJson, string? SpecJson, ObservedHalf Status, long CreateTime, long? StartTime, long ModifiedTime,
        string? Creator, string? CreatorName, string? Modifier, string? ModifierName, string? DashboardUrl, string? GrpcEndpoint, string? JobId,
        decimal UsageCuMs, decimal UsageGpuMs, decimal? UsageCuRate, decimal? UsageGpuRate, long? UsageObservedAt);

    public static Expression<Func<ClusterRow, ListRow>> ListColumns(RayfleetDbContext db) => c => new ListRow(
        c.Id,
        c.ListSpecJson,
        c.ObservedGeneration < c.Generation && c.DesiredRunning && c.InstanceId == c.ObservedInstanceId ? c.SpecJson : null,
        new ObservedHalf(c.Generation, c.ObservedGeneration, c.DesiredRunning, c.InstanceId, c.ObservedInstanceId, c.State, c.Message, c.Modified,
            c.ObservedGeneration < c.Generation && c.DesiredRunning && c.InstanceId == c.ObservedInstanceId ? c.RunSpecJson : null),
        c.CreateTime, c.StartTime, c.ModifiedTime,
        c.Creator, db.Principals.Where(p => p.Id == c.Creator).Select(p => p.Name).FirstOrDefault(),
        c.Modifier, db.Principals.Where(p => p.Id == c.Modifier).Select(p => p.Name).FirstOrDefault(),
        c.DashboardUrl, c.GrpcEndpoint, c.JobId, c.UsageCuMs, c.UsageGpuMs, c.UsageCuRate, c.UsageGpuRate, c.UsageObservedAt);

    /// <summary>A List item from a row read with <see cref="ListColumns"/>.</summary>
    public static RayClusterSummaryDto Summary(ListRow row, long now)
    {
        var usage = ClusterUsage.Listed(row.UsageCuMs, row.UsageGpuMs, row.UsageCuRate, row.UsageGpuRate, row.UsageObservedAt, now);
        var spec = ClusterSpec.FromJson(row.ListSpecJson);
        var status = ClusterStatusView.Of(row.Status, () => ClusterSpec.FromJson(row.SpecJson!));
        return new RayClusterSummaryDto
        {
            ClusterId = row.Id,
            Name = spec.Name,
            Description = spec.Description,
            DisplayReleaseVersion = spec.DisplayReleaseVersion,
            NetworkServiceName = spec.NetworkServiceName,
            InstanceId = row.Status.InstanceId,
            State = status.State,
            Message = status.Message,
            Modified = status.Modified,
            CreateTime = row.CreateTime,
            StartTime = row.StartTime,
            ModifiedTime = row.ModifiedTime,
            Creator = row.Creator,
            CreatorName = row.CreatorName,
            Modifier = row.Modifier,
            ModifierName = row.ModifierName,
            DashboardUrl = status.NewInstance ? null : row.DashboardUrl,
            GrpcEndpoint = status.NewInstance ? null : row.GrpcEndpoint,
            HeadSpec = ClusterSpecMapping.ToListHeadDto(spec.Head),
            WorkerSpec = [.. spec.Workers.Select(ClusterSpecMapping.ToListWorkerDto)],
            JobSubmissionId = row.JobId,
            // From the stored rate of the nodes last observed: a List never reads the node lists.
            CuHours = usage.CuHours,
            GuHours = GuHours(usage, spec),
        };
    }

    private static GuHoursDto GuHours(Usage usage, ClusterSpec spec) =>
        usage.GpuMs > 0 ? new GuHoursDto { GpuHours = usage.GpuHours, GpuSpec = ClusterUsage.GpuSpec(spec) } : new GuHoursDto();
}
