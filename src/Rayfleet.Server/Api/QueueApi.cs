using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Api;

/// <summary>Workspace queues (emr-api.md §8). Create and Edit carry the workspace in the body, not the path.</summary>
public static partial class QueueApi
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex QueueNamePattern();

    public static RouteGroupBuilder MapQueues(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces").WithTags("Queues").RequireRamPolicies();
        group.MapPost("/queues", Create).WithName("CreateWorkspaceQueue").Accepts<WorkspaceQueueRequest>("application/json");
        group.MapPost("/queues/action/edit", Edit).WithName("EditWorkspaceQueue").Accepts<WorkspaceQueueRequest>("application/json");
        group.MapDelete("/{workspaceId}/queues/{workspaceQueueName}", Delete).WithName("DeleteWorkspaceQueue");
        group.MapGet("/{workspaceId}/queues", List).WithName("ListWorkspaceQueues");
        return group;
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Create(HttpContext http, RayfleetDbContext db, MutationRunner runner, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<WorkspaceQueueRequest>(http.Request);
        var (workspaceId, name) = await RequireTargetAsync(db, request, ct);
        return await runner.RunAsync("CreateWorkspaceQueue", workspaceId, request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var problems = CheckResources(request, creating: true);
            if (!QueueNamePattern().IsMatch(name))
                problems.Add(new(ErrorCodes.InvalidParameter, "workspaceQueueName", "The specified parameter workspaceQueueName is not valid: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit."));
            else if (await db.Queues.AnyAsync(q => q.WorkspaceId == workspaceId && q.Name == name, ct))
                problems.Add(new(ErrorCodes.InvalidParameter, "workspaceQueueName", $"The specified parameter workspaceQueueName is not valid: queue '{name}' already exists in the workspace."));
            if (problems.Count > 0) throw ApiException.FromProblems(problems);
            var row = new QueueRow { WorkspaceId = workspaceId, Name = name, CreateTime = time.Now() };
            Apply(row, request);
            db.Queues.Add(row);
            return Mutation.Of(new RequestIdResponse(http.RequestId()));
        }, ct);
    }

    public static async Task<JsonAnswer<CapitalRequestIdResponse>> Edit(HttpContext http, RayfleetDbContext db, MutationRunner runner, IReconcileTrigger reconciler, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<WorkspaceQueueRequest>(http.Request);
        var (workspaceId, name) = await RequireTargetAsync(db, request, ct);
        return await runner.RunAsync("EditWorkspaceQueue", workspaceId, request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var row = await db.Queues.FirstOrDefaultAsync(q => q.WorkspaceId == workspaceId && q.Name == name, ct)
                      ?? throw ApiException.NotFound(ErrorCodes.QueueNotFound, $"Queue '{name}' does not exist in the workspace.");
            var problems = CheckResources(request, creating: false);
            if (problems.Count > 0) throw ApiException.FromProblems(problems);
            Apply(row, request);
            // A larger queue may admit clusters that wait; a smaller one keeps what runs and admits less from now on.
            var waiting = await QueueAdmissionService.WaitingAsync(db, workspaceId, ct);
            return Mutation.Of(new CapitalRequestIdResponse(http.RequestId()), () =>
            {
                foreach (var id in waiting) reconciler.Enqueue(id);
            });
        }, ct);
    }

    public static async Task<JsonAnswer<CapitalRequestIdResponse>> Delete(string workspaceId, string workspaceQueueName, HttpContext http, RayfleetDbContext db, MutationRunner runner, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteWorkspaceQueue", workspaceId, ApiSupport.Query(http.Request, "clientToken"), new Parameter("workspaceQueueName", workspaceQueueName), async () =>
        {
            var row = await db.Queues.FirstOrDefaultAsync(q => q.WorkspaceId == workspaceId && q.Name == workspaceQueueName, ct)
                      ?? throw ApiException.NotFound(ErrorCodes.QueueNotFound, $"Queue '{workspaceQueueName}' does not exist in the workspace.");
            var users = await ClustersUsingAsync(db, workspaceId, workspaceQueueName, ct);
            if (users.Count > 0)
                throw ApiException.Denied($"Queue '{workspaceQueueName}' is used by {users.Count} Ray cluster(s) ({string.Join(", ", users.Take(5))}); move or delete them first.");
            db.Queues.Remove(row);
            return Mutation.Of(new CapitalRequestIdResponse(http.RequestId()));
        }, ct);
    }

    public static async Task<Ok<ListWorkspaceQueuesResponse>> List(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        var workspace = await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var environment = ApiSupport.Query(http.Request, "environment");
        var rows = await db.Queues.AsNoTracking().Where(q => q.WorkspaceId == workspaceId).OrderBy(q => q.CreateTime).ThenBy(q => q.Name).ToListAsync(ct);
        var used = await QueueAdmissionService.UsedAsync(db, workspaceId, null, ct);
        var queues = rows
            .Select(q => (Row: q, Environments: JsonSerializer.Deserialize(q.EnvironmentsJson, WireJson.Default.ListString) ?? []))
            .Where(q => environment is null || q.Environments.Contains(environment))
            .Select(q => new QueueDto
            {
                QueueName = q.Row.Name,
                WorkspaceId = workspaceId,
                RegionId = workspace.RegionId,
                QueueScope = "{\"arch\":\"x86\"}",
                QueueCategory = q.Row.Category ?? (q.Row.Gpu > 0 ? "GPU" : "CPU"),
                Properties = q.Row.Name,
                Environments = q.Environments,
                MaxResource = Capacity(q.Row.Cu, q.Row.Gpu).ToWireJson(),
                MinResource = Resources.Zero.ToWireJson(),
                UsedResource = used.For(q.Row.Name).ToWireJson(),
                PaymentType = q.Row.PaymentType ?? "PayAsYouGo",
                CreateTime = q.Row.CreateTime,
                Preheat = q.Row.Preheat,
                GpuSpec = JsonSerializer.Deserialize(q.Row.GpuSpecJson, WireJson.Default.ListString) ?? [],
                GpuMachineNum = q.Row.GpuMachineNum,
                InstanceId = q.Row.InstanceId,
                Description = q.Row.Description,
            })
            .ToList();
        return TypedResults.Ok(new ListWorkspaceQueuesResponse
        {
            RequestId = http.RequestId(),
            Queues = queues,
            MaxResults = queues.Count,
            TotalCount = queues.Count,
        });
    }

    /// <summary>A queue's capacity in the listing's units: CU as cores and 4 GiB per CU.</summary>
    private static Resources Capacity(decimal cu, int gpu) =>
        new((long)(cu * 1000), (long)(cu * 4 * (1L << 30)), cu, gpu);

    private static async Task<(string WorkspaceId, string Name)> RequireTargetAsync(RayfleetDbContext db, WorkspaceQueueRequest request, CancellationToken ct)
    {
        var problems = new List<Problem>();
        if (request.WorkspaceId is null) problems.Add(new(ErrorCodes.Missing("workspaceId"), "workspaceId", "workspaceId is required."));
        if (request.WorkspaceQueueName is null) problems.Add(new(ErrorCodes.Missing("workspaceQueueName"), "workspaceQueueName", "workspaceQueueName is required."));
        if (problems.Count > 0) throw ApiException.FromProblems(problems);
        await ApiSupport.RequireWorkspaceAsync(db, request.WorkspaceId!, ct);
        return (request.WorkspaceId!, request.WorkspaceQueueName!);
    }

    private static List<Problem> CheckResources(WorkspaceQueueRequest request, bool creating)
    {
        var problems = new List<Problem>();
        var spec = request.ResourceSpec;
        if (creating && spec?.Cu is null)
            problems.Add(new(ErrorCodes.Missing("resourceSpec.cu"), "resourceSpec.cu", "resourceSpec.cu is required."));
        if (spec?.Cu is { } cu && (cu <= 0 || cu > 1_000_000_000))
            problems.Add(new(ErrorCodes.InvalidParameter, "resourceSpec.cu", "The specified parameter resourceSpec.cu is not valid: must be a positive number of CU."));
        if (spec?.Gpu is < 0)
            problems.Add(new(ErrorCodes.InvalidParameter, "resourceSpec.gpu", "The specified parameter resourceSpec.gpu is not valid: must not be negative."));
        if (request.QueueCategory is { } category && category is not ("CPU" or "GPU"))
            problems.Add(new(ErrorCodes.InvalidParameter, "queueCategory", "The specified parameter queueCategory is not valid: must be CPU or GPU."));
        if (request.Description is { Length: > 256 })
            problems.Add(new(ErrorCodes.InvalidParameter, "description", "The specified parameter description is not valid: must be at most 256 characters."));
        return problems;
    }

    private static void Apply(QueueRow row, WorkspaceQueueRequest request)
    {
        if (request.ResourceSpec?.Cu is { } cu) row.Cu = cu;
        if (request.ResourceSpec?.Gpu is { } gpu) row.Gpu = gpu;
        if (request.ResourceSpec?.MaxCu is { } maxCu) row.MaxCu = maxCu;
        if (request.ResourceSpec?.GpuMachineNum is { } machines) row.GpuMachineNum = machines;
        if (request.Description is not null) row.Description = request.Description;
        if (request.QueueCategory is not null) row.Category = request.QueueCategory;
        if (request.PaymentType is not null) row.PaymentType = request.PaymentType;
        if (request.Preheat is { } preheat) row.Preheat = preheat;
        if (request.InstanceId is not null) row.InstanceId = request.InstanceId;
        if (request.GpuSpec is not null) row.GpuSpecJson = JsonSerializer.Serialize(request.GpuSpec.Where(g => g is not null).ToList(), WireJson.Default.ListString);
        if (request.Environments is not null) row.EnvironmentsJson = JsonSerializer.Serialize(request.Environments.Where(e => e is not null).ToList(), WireJson.Default.ListString);
    }

    private static async Task<List<string>> ClustersUsingAsync(RayfleetDbContext db, string workspaceId, string queue, CancellationToken ct)
    {
        // Specs are JSON text: filter cheaply in SQL on the name, then decide exactly in memory.
        var candidates = await db.Clusters.AsNoTracking()
            .Where(c => c.WorkspaceId == workspaceId && (c.SpecJson.Contains(queue) || (c.RunSpecJson != null && c.RunSpecJson.Contains(queue))))
            .Select(c => new { c.Id, c.SpecJson, c.RunSpecJson })
            .ToListAsync(ct);
        bool Uses(string? json) =>
            json is not null && Core.Clusters.ClusterSpec.FromJson(json) is var s
            && (s.Head.QueueName == queue || s.Workers.Any(w => w.QueueName == queue));
        var reserved = await db.Reservations.AsNoTracking().Where(r => r.WorkspaceId == workspaceId && r.QueueName == queue).Select(r => r.ClusterId).ToListAsync(ct);
        return [.. candidates.Where(c => Uses(c.SpecJson) || Uses(c.RunSpecJson)).Select(c => c.Id).Union(reserved).Distinct()];
    }
}
