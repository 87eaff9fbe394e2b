using System.Linq.Expressions;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
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
    private const string PasswordPurpose = "Rayfleet.RayCluster.GftRedisPassword";

    public static RouteGroupBuilder MapRayClusters(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/rayCluster").WithTags("Ray clusters");
        group.MapPost("", Create).WithName("CreateRayCluster").Accepts<RayClusterRequest>("application/json").Produces<CreateRayClusterResponse>();
        group.MapGet("", List).WithName("ListRayCluster").Produces<ListRayClusterResponse>();
        group.MapGet("/{clusterId}", Get).WithName("GetRayCluster").Produces<GetRayClusterResponse>();
        group.MapPost("/{clusterId}", Update).WithName("UpdateRayCluster").Accepts<RayClusterRequest>("application/json").Produces<CreateRayClusterResponse>();
        group.MapDelete("/{clusterId}", Delete).WithName("DeleteRayCluster").Produces<RequestIdResponse>();
        group.MapPost("/{clusterId}/start", Start).WithName("StartRayCluster").Accepts<StartRayClusterRequest>("application/json").Produces<RequestIdResponse>();
        group.MapPost("/{clusterId}/stop", Stop).WithName("StopRayCluster").Accepts<StopRayClusterRequest>("application/json").Produces<RequestIdResponse>();
        return group;
    }

    public static async Task<IResult> Create(
        string workspaceId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, IDataProtectionProvider protection, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<RayClusterRequest>(http.Request);
        var workspace = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("CreateRayCluster", workspaceId, request.ClientToken, request, async () =>
        {
            var (spec, catalog) = await ValidateAsync(db, catalogs, workspaceId, request with { ClientToken = null }, ct);
            spec = ProtectPassword(spec, previous: null, protection);
            CheckCapacity(catalogs, catalog, spec);

            var now = time.Now();
            var id = Ids.Cluster();
            var row = new ClusterRow
            {
                Id = id,
                WorkspaceId = workspaceId,
                Provider = workspace.Provider,
                Name = spec.Name,
                SpecJson = spec.ToJson(),
                RunSpecJson = spec.ToJson(),
                Generation = 1,
                DesiredRunning = true,
                State = ClusterState.Starting,
                Message = "Waiting for the reconciler to admit and start the cluster.",
                InstanceId = Ids.Instance(id),
                CreateTime = now,
                StartTime = now,
                ModifiedTime = now,
                QueuedAt = now,
                SubmitToken = Ids.SubmitToken(),
                Creator = Caller.Of(http)?.PrincipalId,
                Modifier = Caller.Of(http)?.PrincipalId,
            };
            db.Clusters.Add(row);
            // Its place in line for admission is taken now, in the same transaction.
            db.Reservations.AddRange(QueueAdmissionService.Requests(row, catalogs.Demand(spec)));
            return new Mutation(new CreateRayClusterResponse(http.RequestId(), id), () => reconciler.Enqueue(id));
        }, ct);
    }

    public static async Task<IResult> List(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var pageNum = ApiSupport.QueryInt(http.Request, "pageNum", 1, 1, int.MaxValue);
        var pageSize = ApiSupport.QueryInt(http.Request, "pageSize", 20, 1, 100);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        // One snapshot for the count, the page and the specs read after it.
        await using var read = await ClusterViews.BeginReadAsync(db, ct);
        var query = db.Clusters.AsNoTracking().Where(c => c.WorkspaceId == workspaceId && !c.Deleted);
        var total = await query.CountAsync(ct);
        // Only the small columns: a spec, with env and extraParam, can be a megabyte and the List item shows little of it.
        var rows = await query
            .OrderByDescending(c => c.CreateTime).ThenByDescending(c => c.Id)
            .Skip((int)Math.Min((long)(pageNum - 1) * pageSize, int.MaxValue))
            .Take(pageSize)
            .Select(ClusterViews.Columns)
            .ToListAsync(ct);
        var specs = await ClusterViews.ListSpecsAsync(db, rows, ct);
        var names = await ClusterViews.PrincipalNamesAsync(db, rows, ct);
        return TypedResults.Ok(new ListRayClusterResponse
        {
            RequestId = http.RequestId(),
            RayClusters = [.. rows.Select(r => ClusterViews.Summary(r, specs[r.Id], names))],
            TotalCount = total,
        });
    }

    public static async Task<IResult> Get(string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        await using var read = await ClusterViews.BeginReadAsync(db, ct);
        var row = await db.Clusters.AsNoTracking()
                      .Where(c => c.Id == clusterId && c.WorkspaceId == workspaceId && !c.Deleted)
                      .Select(ClusterViews.Columns)
                      .FirstOrDefaultAsync(ct)
                  ?? throw ClusterNotFound(clusterId);
        var spec = await ClusterViews.SpecAsync(db, row, ct);
        var nodes = await ClusterViews.NodesAsync(db, row, ct);
        var names = await ClusterViews.PrincipalNamesAsync(db, [row], ct);
        return TypedResults.Ok(ClusterViews.Detail(row, spec, nodes, http.RequestId(), names));
    }

    public static async Task<IResult> Update(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, IDataProtectionProvider protection, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<RayClusterRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("UpdateRayCluster", $"{workspaceId}/{clusterId}", request.ClientToken, request, async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            if (Lifecycle.Update(row.State) == LifecycleVerdict.Denied)
                throw ApiException.Denied($"The cluster cannot be updated while it is {row.State}.");

            var current = ClusterSpec.FromJson(row.SpecJson);
            var merged = ClusterSpecMapping.Merge(current, request with { ClientToken = null });
            var (spec, catalog) = await ValidateAsync(db, catalogs, workspaceId, merged, ct);
            spec = ProtectPassword(spec, current, protection);
            CheckCapacity(catalogs, catalog, spec);

            var json = spec.ToJson();
            if (json != row.SpecJson)
            {
                row.SpecJson = json;
                row.Name = spec.Name;
                row.Generation++;
                row.ModifiedTime = time.Now();
                row.Modifier = Caller.Of(http)?.PrincipalId;
                if (row.RunSpecJson is not null)
                {
                    // Scaling, names and autoscaling settings reach the running instance now; the rest waits for a Start.
                    var run = ClusterSpec.FromJson(row.RunSpecJson).WithLiveFieldsFrom(spec);
                    row.RunSpecJson = run.ToJson();
                    row.Modified = run.NeedsRestartToMatch(spec);
                }
            }
            return new Mutation(new CreateRayClusterResponse(http.RequestId(), clusterId), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<IResult> Delete(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, MutationRunner runner,
        IReconcileTrigger reconciler, TimeProvider time, CancellationToken ct)
    {
        var token = ApiSupport.Query(http.Request, "clientToken");
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteRayCluster", $"{workspaceId}/{clusterId}", token, new { clusterId }, async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            // A tombstone: gone from Get and List now; the reconciler removes the row once the provider confirms.
            row.Deleted = true;
            row.DesiredRunning = false;
            row.ModifiedTime = time.Now();
            return new Mutation(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<IResult> Start(
        string workspaceId, string clusterId, HttpContext http, RayfleetDbContext db, Catalogs catalogs, MutationRunner runner,
        IReconcileTrigger reconciler, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<StartRayClusterRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("StartRayCluster", $"{workspaceId}/{clusterId}", request.ClientToken, new { clusterId }, async () =>
        {
            var row = await FindAsync(db, workspaceId, clusterId, ct);
            switch (Lifecycle.Start(row.State))
            {
                case LifecycleVerdict.Denied:
                    throw ApiException.Denied($"The cluster cannot be started while it is {row.State}; wait until it is Stopped.");
                case LifecycleVerdict.Proceed:
                    var now = time.Now();
                    row.DesiredRunning = true;
                    row.InstanceId = Ids.Instance(row.Id);
                    row.RunSpecJson = row.SpecJson;
                    row.Modified = false;
                    row.State = ClusterState.Starting;
                    row.Message = "Waiting for the reconciler to admit and start the cluster.";
                    row.StartTime = now;
                    row.QueuedAt = now;
                    row.Modifier = Caller.Of(http)?.PrincipalId;
                    row.NodesJson = "[]";
                    row.DashboardUrl = row.JobUrl = row.JobUrlInner = row.GrpcEndpoint = null;
                    if (row.AdmittedReplicasJson is null)
                    {
                        db.Reservations.RemoveRange(await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct));
                        db.Reservations.AddRange(QueueAdmissionService.Requests(row, catalogs.Demand(ClusterSpec.FromJson(row.SpecJson))));
                    }
                    break;
            }
            return new Mutation(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    public static async Task<IResult> Stop(
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
            if (Lifecycle.Stop(row.State) == LifecycleVerdict.Proceed)
            {
                row.DesiredRunning = false;
                row.State = ClusterState.Stopping;
                row.Message = "Stopping.";
                row.Modifier = Caller.Of(http)?.PrincipalId;
            }
            return new Mutation(new RequestIdResponse(http.RequestId()), () => reconciler.Enqueue(clusterId));
        }, ct);
    }

    private static async Task<ClusterRow> FindAsync(RayfleetDbContext db, string workspaceId, string clusterId, CancellationToken ct) =>
        await db.Clusters.FirstOrDefaultAsync(c => c.Id == clusterId && c.WorkspaceId == workspaceId && !c.Deleted, ct)
        ?? throw ClusterNotFound(clusterId);

    private static ApiException ClusterNotFound(string clusterId) =>
        ApiException.NotFound(ErrorCodes.ClusterNotFound, $"Ray cluster '{clusterId}' does not exist in the workspace.");

    private static async Task<(ClusterSpec Spec, WorkspaceCatalog Catalog)> ValidateAsync(
        RayfleetDbContext db, Catalogs catalogs, string workspaceId, RayClusterRequest request, CancellationToken ct)
    {
        var catalog = await WorkspaceCatalog.LoadAsync(db, catalogs, workspaceId, ct);
        var (spec, problems) = ClusterRules.Validate(request, catalog);
        if (problems.Count > 0) throw ApiException.FromProblems(problems);
        return (spec!, catalog);
    }

    /// <summary>A cluster that can never fit its queues is refused now; one that only has to wait is accepted.</summary>
    private static void CheckCapacity(Catalogs catalogs, WorkspaceCatalog catalog, ClusterSpec spec)
    {
        var decision = QueueAdmission.Decide(catalogs.Demand(spec), catalog.Capacities, new QueueDemand());
        if (decision.Verdict == AdmissionVerdict.NeverFits)
            throw new ApiException(400, ErrorCodes.QuotaExceeded, decision.Message);
    }

    /// <summary>The Redis password is kept encrypted with a key outside the database; an unchanged one stays as stored.</summary>
    private static ClusterSpec ProtectPassword(ClusterSpec spec, ClusterSpec? previous, IDataProtectionProvider protection)
    {
        var password = spec.Head.GftConfig?.RedisPassword;
        if (password is null || password == previous?.Head.GftConfig?.RedisPassword) return spec;
        var protectedPassword = protection.CreateProtector(PasswordPurpose).Protect(password);
        return spec with { Head = spec.Head with { GftConfig = spec.Head.GftConfig! with { RedisPassword = protectedPassword } } };
    }

    /// <summary>For providers that must hand the password to Redis clients (GCS fault tolerance).</summary>
    public static string? UnprotectPassword(ClusterSpec spec, IDataProtectionProvider protection) =>
        spec.Head.GftConfig?.RedisPassword is { } stored ? protection.CreateProtector(PasswordPurpose).Unprotect(stored) : null;
}

/// <summary>
/// The read path of Get and List. Rows are read as <see cref="ClusterColumns"/>, without the spec and node list; those
/// two can each be megabytes, so they are parsed straight from the store's pages (List keeps only the fields it shows)
/// rather than loaded as strings first.
/// </summary>
internal static class ClusterViews
{
    /// <summary>
    /// How stored JSON is read: synchronously, as SQLite reads are (an async read of a blob would only queue each chunk
    /// to the thread pool), in chunks large enough that a skipped value of a few KiB rarely spans two.
    /// </summary>
    private static readonly JsonSerializerOptions StoredJson = new() { DefaultBufferSize = 64 * 1024 };

    /// <summary>A row's small columns: what Get and List show besides the spec and the node list.</summary>
    public sealed record ClusterColumns
    {
        public required string Id { get; init; }
        public string? InstanceId { get; init; }
        public required string State { get; init; }
        public string? Message { get; init; }
        public bool Modified { get; init; }
        public long CreateTime { get; init; }
        public long? StartTime { get; init; }
        public long ModifiedTime { get; init; }
        public string? Creator { get; init; }
        public string? Modifier { get; init; }
        public string? DashboardUrl { get; init; }
        public string? JobUrl { get; init; }
        public string? JobUrlInner { get; init; }
        public string? GrpcEndpoint { get; init; }
        public required string SubmitToken { get; init; }
    }

    public static readonly Expression<Func<ClusterRow, ClusterColumns>> Columns = c => new ClusterColumns
    {
        Id = c.Id,
        InstanceId = c.InstanceId,
        State = c.State,
        Message = c.Message,
        Modified = c.Modified,
        CreateTime = c.CreateTime,
        StartTime = c.StartTime,
        ModifiedTime = c.ModifiedTime,
        Creator = c.Creator,
        Modifier = c.Modifier,
        DashboardUrl = c.DashboardUrl,
        JobUrl = c.JobUrl,
        JobUrlInner = c.JobUrlInner,
        GrpcEndpoint = c.GrpcEndpoint,
        SubmitToken = c.SubmitToken,
    };

    /// <summary>State, message and the modified flag as the caller sees them.</summary>
    private static (string State, string? Message, bool Modified) Status(ClusterColumns row) => (row.State, row.Message, row.Modified);

    /// <summary>Endpoints of the running instance.</summary>
    private static (string? DashboardUrl, string? JobUrl, string? JobUrlInner, string? GrpcEndpoint) Endpoints(ClusterColumns row) =>
        (row.DashboardUrl, row.JobUrl, row.JobUrlInner, row.GrpcEndpoint);

    /// <summary>The nodes of the instance, parsed from the stored list as it streams in.</summary>
    public static async Task<List<RayNodeDto>> NodesAsync(RayfleetDbContext db, ClusterColumns row, CancellationToken ct)
    {
        await using var json = OpenColumn(db, await RowIdAsync(db, row.Id, ct), nameof(ClusterRow.NodesJson));
        return JsonSerializer.Deserialize<List<RayNodeDto>>(json, StoredJson) ?? [];
    }

    public static async Task<ClusterSpec> SpecAsync(RayfleetDbContext db, ClusterColumns row, CancellationToken ct)
    {
        await using var json = OpenColumn(db, await RowIdAsync(db, row.Id, ct), nameof(ClusterRow.SpecJson));
        return JsonSerializer.Deserialize<ClusterSpec>(json, StoredJson) ?? throw new InvalidDataException("Empty cluster spec.");
    }

    /// <summary>
    /// The part of each row's spec a List item shows (<see cref="ListSpecJson"/>): what it leaves out is skipped value by
    /// value, so a read holds at most one such value at a time, never a whole spec.
    /// </summary>
    public static async Task<Dictionary<string, ClusterSpec>> ListSpecsAsync(RayfleetDbContext db, IReadOnlyList<ClusterColumns> rows, CancellationToken ct)
    {
        var specs = new Dictionary<string, ClusterSpec>(rows.Count, StringComparer.Ordinal);
        foreach (var row in rows)
        {
            await using var json = OpenColumn(db, await RowIdAsync(db, row.Id, ct), nameof(ClusterRow.SpecJson));
            specs[row.Id] = JsonSerializer.Deserialize<ClusterSpec>(json, ListSpecJson) ?? throw new InvalidDataException("Empty cluster spec.");
        }
        return specs;
    }

    /// <summary>
    /// A deferred read transaction (WAL: it blocks no writer), so that the rows, and the columns read later by rowid,
    /// come from one snapshot even while the cluster is updated or deleted meanwhile. Keeps the connection open for
    /// <see cref="OpenColumn"/>.
    /// </summary>
    public static async Task<IAsyncDisposable> BeginReadAsync(RayfleetDbContext db, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        var transaction = connection.BeginTransaction(deferred: true);
        await db.Database.UseTransactionAsync(transaction, ct);
        return new ReadScope(db, transaction);
    }

    /// <summary>SQLite's rowid of the cluster's row, which blob I/O addresses rows by; no EF property maps it.</summary>
    private static async Task<long> RowIdAsync(RayfleetDbContext db, string clusterId, CancellationToken ct)
    {
        var entity = db.Model.FindEntityType(typeof(ClusterRow))!;
        await using var command = ((SqliteConnection)db.Database.GetDbConnection()).CreateCommand();
        command.Transaction = (SqliteTransaction?)db.Database.CurrentTransaction?.GetDbTransaction();
        command.CommandText = $"SELECT rowid FROM \"{entity.GetTableName()}\" WHERE \"{entity.FindProperty(nameof(ClusterRow.Id))!.GetColumnName()}\" = $id";
        command.Parameters.AddWithValue("$id", clusterId);
        return await command.ExecuteScalarAsync(ct) is long rowId
            ? rowId
            : throw new InvalidOperationException($"Cluster {clusterId} was read in this snapshot but has no row.");
    }

    /// <summary>A column's value read incrementally from the store's pages (SQLite blob I/O), not loaded as a whole.</summary>
    private static SqliteBlob OpenColumn(RayfleetDbContext db, long rowId, string property)
    {
        var entity = db.Model.FindEntityType(typeof(ClusterRow))!;
        var column = entity.FindProperty(property)!.GetColumnName();
        return new SqliteBlob((SqliteConnection)db.Database.GetDbConnection(), entity.GetTableName()!, column, rowId, readOnly: true);
    }

    private sealed class ReadScope(RayfleetDbContext db, SqliteTransaction transaction) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await db.Database.UseTransactionAsync(null);
            // Nothing was written; ending the read lets the WAL be checkpointed past this snapshot.
            await transaction.RollbackAsync();
            await transaction.DisposeAsync();
            await db.Database.CloseConnectionAsync();
        }
    }

    public static async Task<IReadOnlyDictionary<string, string>> PrincipalNamesAsync(RayfleetDbContext db, IReadOnlyList<ClusterColumns> rows, CancellationToken ct)
    {
        var ids = rows.SelectMany(r => new[] { r.Creator, r.Modifier }).Where(i => i is not null).Distinct().ToList();
        return ids.Count == 0
            ? new Dictionary<string, string>()
            : await db.Principals.AsNoTracking().Where(p => ids.Contains(p.Id)).ToDictionaryAsync(p => p.Id, p => p.Name, ct);
    }

    private static string? Name(IReadOnlyDictionary<string, string> names, string? id) => id is not null && names.TryGetValue(id, out var n) ? n : null;

    public static GetRayClusterResponse Detail(
        ClusterColumns row, ClusterSpec spec, List<RayNodeDto> nodes, string requestId, IReadOnlyDictionary<string, string> names)
    {
        var (state, message, modified) = Status(row);
        var (dashboardUrl, jobUrl, jobUrlInner, grpcEndpoint) = Endpoints(row);
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
            State = state,
            Message = message,
            Modified = modified,
            CreateTime = row.CreateTime,
            StartTime = row.StartTime,
            ModifiedTime = row.ModifiedTime,
            Creator = row.Creator,
            CreatorName = Name(names, row.Creator),
            Modifier = row.Modifier,
            ModifierName = Name(names, row.Modifier),
            DashboardUrl = dashboardUrl,
            JobUrl = jobUrl,
            JobUrlInner = jobUrlInner,
            GrpcEndpoint = grpcEndpoint,
            SubmitToken = row.SubmitToken,
            Instances = nodes,
        };
    }

    public static RayClusterSummaryDto Summary(ClusterColumns row, ClusterSpec spec, IReadOnlyDictionary<string, string> names)
    {
        var (state, message, modified) = Status(row);
        var (dashboardUrl, _, _, grpcEndpoint) = Endpoints(row);
        return new RayClusterSummaryDto
        {
            ClusterId = row.Id,
            Name = spec.Name,
            Description = spec.Description,
            DisplayReleaseVersion = spec.DisplayReleaseVersion,
            NetworkServiceName = spec.NetworkServiceName,
            InstanceId = row.InstanceId,
            State = state,
            Message = message,
            Modified = modified,
            CreateTime = row.CreateTime,
            StartTime = row.StartTime,
            ModifiedTime = row.ModifiedTime,
            Creator = row.Creator,
            CreatorName = Name(names, row.Creator),
            Modifier = row.Modifier,
            ModifierName = Name(names, row.Modifier),
            DashboardUrl = dashboardUrl,
            GrpcEndpoint = grpcEndpoint,
            HeadSpec = ClusterSpecMapping.ToListHeadDto(spec.Head),
            WorkerSpec = [.. spec.Workers.Select(ClusterSpecMapping.ToListWorkerDto)],
        };
    }

    /// <summary>
    /// Reads a stored <see cref="ClusterSpec"/> as far as a List item shows it: every other property (env, extraParam,
    /// rayStartParams, volumes, GCS settings) is left out of the contract, so the reader skips its value unread.
    /// </summary>
    private static readonly JsonSerializerOptions ListSpecJson = new(StoredJson)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                KeepOnly<ClusterSpec>(nameof(ClusterSpec.Name), nameof(ClusterSpec.Description), nameof(ClusterSpec.DisplayReleaseVersion),
                    nameof(ClusterSpec.NetworkServiceName), nameof(ClusterSpec.Head), nameof(ClusterSpec.Workers)),
                KeepOnly<HeadGroupSpec>(nameof(HeadGroupSpec.Cpu), nameof(HeadGroupSpec.Memory), nameof(HeadGroupSpec.QueueName),
                    nameof(HeadGroupSpec.EnableAutoScaling), nameof(HeadGroupSpec.IdleTimeoutSeconds), nameof(HeadGroupSpec.GpuSpec)),
                KeepOnly<WorkerGroupSpec>(nameof(WorkerGroupSpec.GroupName), nameof(WorkerGroupSpec.WorkerType), nameof(WorkerGroupSpec.Replica),
                    nameof(WorkerGroupSpec.MinReplica), nameof(WorkerGroupSpec.MaxReplica), nameof(WorkerGroupSpec.Cpu),
                    nameof(WorkerGroupSpec.Memory), nameof(WorkerGroupSpec.QueueName), nameof(WorkerGroupSpec.GpuSpec)),
            },
        },
    };

    private static Action<JsonTypeInfo> KeepOnly<T>(params string[] names) => info =>
    {
        if (info.Type != typeof(T)) return;
        foreach (var property in info.Properties.Where(p => !names.Contains(p.Name, StringComparer.Ordinal)).ToList())
            info.Properties.Remove(property);
    };
}
