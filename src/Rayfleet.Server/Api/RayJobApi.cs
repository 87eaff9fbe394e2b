using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Api;

/// <summary>
/// Ray job routes (emr-api.md §6). Like the cluster routes, handlers write desired state (a job, its job-mode cluster,
/// a cancel) and wake the reconciler; Ray is only ever spoken to by the reconciler.
/// </summary>
public static class RayJobApi
{
    public static RouteGroupBuilder MapRayJobs(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/rayJob").WithTags("Ray jobs").RequireRamPolicies();
        group.MapPost("", Submit).WithName("SubmitRayJob").Accepts<SubmitRayJobRequest>("application/json");
        group.MapGet("", List).WithName("ListRayJob");
        group.MapGet("/{submissionId}", Get).WithName("GetRayJob");
        group.MapPost("/{submissionId}/cancel", Cancel).WithName("CancelRayJob");
        return group;
    }

    public static async Task<JsonAnswer<SubmitRayJobResponse>> Submit(
        string workspaceId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<SubmitRayJobRequest>(http.Request);
        var workspace = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("SubmitRayJob", workspaceId, request.ClientToken, request, async () =>
        {
            var accepted = request with { ClientToken = null };
            var (_, problems) = JobRules.Validate(accepted);
            var all = problems.ToList();
            if (accepted.SubmissionMode is { } mode && mode != SubmissionModes.Http && workspace.Provider != ProviderNames.Kubernetes)
                all.Add(new Problem(ErrorCodes.InvalidParameter, "submissionMode",
                    $"The specified parameter submissionMode is not valid: {mode} is KubeRay's; a workspace on provider '{workspace.Provider}' submits with HTTPMode."));
            else if (accepted.SubmissionMode is { } m && m != SubmissionModes.Http && accepted.ClusterId is not null)
                all.Add(new Problem(ErrorCodes.InvalidParameter, "submissionMode",
                    $"The specified parameter submissionMode is not valid: {m} runs a job with its own RayJob; a job sent to an existing cluster is submitted with HTTPMode."));
            // What KubeRay would refuse or ignore in a RayJob is refused here, where the caller sees it.
            if (workspace.Provider == ProviderNames.Kubernetes && accepted.ClusterId is null)
                all.AddRange(KubeRayRules.CheckJob(accepted.SubmissionMode, accepted.ShutdownAfterJobFinishes ?? true, accepted.TtlSecondsAfterFinished,
                    accepted.ActiveDeadlineSeconds, accepted.EntrypointMemory, accepted.EntrypointResources, accepted.RuntimeEnvJson));
            if (all.Count > 0) throw ApiException.FromProblems([.. all.DistinctBy(p => (p.Field, p.Code))]);

            var id = Ids.Job();
            var now = time.Now();
            var principal = Caller.Of(http)?.PrincipalId;
            ClusterRow cluster;
            if (accepted.ClusterId is { } clusterId)
            {
                // A value the body refers to: 400 with the not-found code (semantics.md, Errors).
                cluster = await db.Clusters.FirstOrDefaultAsync(c => c.Id == clusterId && c.WorkspaceId == workspaceId && !c.Deleted, ct)
                          ?? throw new ApiException(400, ErrorCodes.ClusterNotFound, $"clusterId: Ray cluster '{clusterId}' does not exist in the workspace.");
                var state = ClusterStatusView.Of(cluster).State;
                // A job waits for a cluster that is on its way up, but is not what starts a stopped one: that is the
                // cluster owner's call (README, "Ray jobs").
                if (state is ClusterState.Stopped or ClusterState.Stopping or ClusterState.Error)
                    throw ApiException.Denied($"Ray cluster '{clusterId}' is {state}; start it before submitting a job to it.");
            }
            else
            {
                var (spec, catalog) = await RayClusterApi.ValidateAsync(db, catalogs, workspace, JobRules.ClusterRequestOf(accepted, id), ct);
                RayClusterApi.CheckCapacity(catalogs, catalog, spec, workspace.Provider);
                cluster = RayClusterApi.StageNew(db, catalogs, workspace, spec, principal, now, jobId: id);
            }

            var headQueue = ClusterSpec.FromJson(cluster.SpecJson).Head.QueueName;
            db.Jobs.Add(new JobRow
            {
                Id = id,
                WorkspaceId = workspaceId,
                Provider = workspace.Provider,
                Name = accepted.Name ?? id,
                SpecJson = JsonSerializer.Serialize(accepted, WireJson.Default.SubmitRayJobRequest),
                ClusterId = cluster.Id,
                OwnsCluster = accepted.ClusterId is null,
                QueueName = headQueue,
                SubmitTime = now,
                DeadlineAt = accepted.ActiveDeadlineSeconds is { } s ? now + s * 1000L : null,
                Creator = principal,
                Generation = 1,
            });
            var clusterToWake = cluster.Id;
            return Mutation.Of(new SubmitRayJobResponse(http.RequestId(), id), () =>
            {
                reconciler.Enqueue(clusterToWake);
                reconciler.Enqueue(id);
            }, resource: id);
        }, ct);
    }

    public static async Task<Ok<GetRayJobResponse>> Get(
        string workspaceId, string submissionId, HttpContext http, RayfleetDbContext db, JobViews views, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var row = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == submissionId && j.WorkspaceId == workspaceId, ct)
                  ?? throw JobNotFound(submissionId);
        var names = await ClusterViews.PrincipalNamesAsync(db, [row.Creator], ct);
        return TypedResults.Ok(views.Detail(row, http.RequestId(), names));
    }

    public static async Task<Ok<ListRayJobResponse>> List(string workspaceId, HttpContext http, RayfleetDbContext db, JobViews views, CancellationToken ct)
    {
        var pageNum = ApiSupport.QueryInt(http.Request, "pageNum", 1, 1, int.MaxValue);
        var pageSize = ApiSupport.QueryInt(http.Request, "pageSize", 20, 1, 100);
        var range = SubmitTimeRange(ApiSupport.Query(http.Request, "submitTime"));
        // The total, the page's place in the index and its rows from one snapshot.
        await using var snapshot = await ReadSnapshot.BeginAsync(db, ct);
        var totals = await ApiSupport.RequireWorkspaceTotalsAsync(db, workspaceId, ct);

        var query = db.Jobs.AsNoTracking().Where(j => j.WorkspaceId == workspaceId);
        var filtered = false;
        if (ApiSupport.Query(http.Request, "name") is { } name) (query, filtered) = (query.Where(j => j.Name == name), true);
        if (ApiSupport.Query(http.Request, "submissionId") is { } id) (query, filtered) = (query.Where(j => j.Id == id), true);
        // Rayfleet has no data-development tasks: no job carries a taskBizId, so a filter on one matches nothing.
        if (ApiSupport.Query(http.Request, "taskBizId") is not null) (query, filtered) = (query.Where(_ => false), true);
        if (range.StartTime is { } from) (query, filtered) = (query.Where(j => j.SubmitTime >= from), true);
        if (range.EndTime is { } to) (query, filtered) = (query.Where(j => j.SubmitTime <= to), true);

        // Unfiltered, the workspace's job total is kept by the store; a filter counts what it matches.
        var total = filtered ? await query.LongCountAsync(ct) : totals.Jobs;
        var page = ListPage.Of(total, pageNum, pageSize);
        // The page's ids from the index (IX WorkspaceId, SubmitTime, Id) from its nearer end, then those rows newest first.
        var ids = page.Take == 0 ? [] : await (page.OldestFirst
                ? query.OrderBy(j => j.SubmitTime).ThenBy(j => j.Id)
                : query.OrderByDescending(j => j.SubmitTime).ThenByDescending(j => j.Id))
            .Skip(page.Skip).Take(page.Take).Select(j => j.Id).ToListAsync(ct);
        var rows = ids.Count == 0 ? [] : await db.Jobs.AsNoTracking()
            .Where(j => ids.Contains(j.Id))
            .OrderByDescending(j => j.SubmitTime).ThenByDescending(j => j.Id)
            // The summary columns only: a page never reads the requests (each up to about 100 KiB).
            .Select(j => new JobViews.ListRow(j.Id, j.Name, j.ClusterId, j.QueueName, j.SubmitTime, j.CancelRequested, j.Creator,
                j.Status, j.ClusterState, j.StartTime, j.EndTime, j.UsageCuMs, j.DashboardUrl))
            .ToListAsync(ct);
        var names = await ClusterViews.PrincipalNamesAsync(db, rows.Select(r => r.Creator), ct);
        return TypedResults.Ok(new ListRayJobResponse
        {
            RequestId = http.RequestId(),
            TotalCount = (int)total,
            RayJobs = [.. rows.Select(r => views.Summary(r, names))],
        });
    }

    public static async Task<JsonAnswer<CancelRayJobResponse>> Cancel(
        string workspaceId, string submissionId, HttpContext http, RayfleetDbContext db, MutationRunner runner,
        IReconcileTrigger reconciler, CancellationToken ct)
    {
        var token = ApiSupport.Query(http.Request, "clientToken");
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("CancelRayJob", $"{workspaceId}/{submissionId}", token, new Parameter("submissionId", submissionId), async () =>
        {
            var row = await db.Jobs.FirstOrDefaultAsync(j => j.Id == submissionId && j.WorkspaceId == workspaceId, ct)
                      ?? throw JobNotFound(submissionId);
            // A finished job has nothing to cancel: success false, without an error (issue 10).
            if (JobStatus.IsTerminal(row.Status))
                return Mutation.Of(new CancelRayJobResponse(http.RequestId(), false), resource: submissionId);
            if (!row.CancelRequested)
            {
                row.CancelRequested = true;
                row.Generation++;
            }
            return Mutation.Of(new CancelRayJobResponse(http.RequestId(), true), () => reconciler.Enqueue(submissionId), resource: submissionId);
        }, ct);
    }

    internal static ApiException JobNotFound(string submissionId) =>
        ApiException.NotFound(ErrorCodes.JobNotFound, $"Ray job '{submissionId}' does not exist in the workspace.");

    /// <summary>ListRayJob's <c>submitTime</c>: a JSON object string, bounds inclusive, either may be left out (emr-api.md §6.3).</summary>
    private static SubmitTimeRangeDto SubmitTimeRange(string? json)
    {
        if (json is null) return new SubmitTimeRangeDto();
        SubmitTimeRangeDto? range = null;
        try
        {
            range = json.Length <= 1024 ? JsonSerializer.Deserialize(json, WireJson.Default.SubmitTimeRangeDto) : null;
        }
        catch (JsonException)
        {
        }
        if (range is null || range.StartTime is < 0 || range.EndTime is < 0)
            throw ApiException.Invalid("The specified parameter submitTime is not valid: must be a JSON object such as {\"startTime\":1750327082303,\"endTime\":1750413482303} with epoch-millisecond bounds.");
        return range;
    }
}
