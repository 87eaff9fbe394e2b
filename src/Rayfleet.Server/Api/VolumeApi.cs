using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>Volumes: a Rayfleet extension (no EMR route exists). Clusters mount them through <c>volumeIds</c>.</summary>
public static class VolumeApi
{
    public static RouteGroupBuilder MapVolumes(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workspaces/{workspaceId}/volumes").WithTags("Volumes (extension)").RequireRamPolicies();
        group.MapPost("", Create).WithName("CreateVolume").Accepts<CreateVolumeRequest>("application/json");
        group.MapGet("", List).WithName("ListVolumes");
        group.MapDelete("/{volumeId}", Delete).WithName("DeleteVolume");
        return group;
    }

    public static async Task<JsonAnswer<CreateVolumeResponse>> Create(string workspaceId, HttpContext http, RayfleetDbContext db, MutationRunner runner, TimeProvider time, CancellationToken ct)
    {
        var request = await JsonBody.ReadAsync<CreateVolumeRequest>(http.Request);
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("CreateVolume", workspaceId, request.ClientToken, request with { ClientToken = null }, async () =>
        {
            var problems = new List<Problem>();
            await ApiSupport.CheckUniqueNameAsync(problems, request.Name, "volume",
                name => db.Volumes.AnyAsync(v => v.WorkspaceId == workspaceId && v.Name == name, ct));
            if (request.Kind is null) problems.Add(new(ErrorCodes.Missing("kind"), "kind", "kind is required."));
            else if (request.Kind is not ("pvc" or "hostPath"))
                problems.Add(new(ErrorCodes.InvalidParameter, "kind", "The specified parameter kind is not valid: must be pvc or hostPath."));
            if (string.IsNullOrEmpty(request.Source)) problems.Add(new(ErrorCodes.Missing("source"), "source", "source is required (the PVC's claim name, or the host path)."));
            else if (request.Kind == "hostPath" && !request.Source.StartsWith('/'))
                problems.Add(new(ErrorCodes.InvalidParameter, "source", "The specified parameter source is not valid: a hostPath source must be an absolute path."));
            if (string.IsNullOrEmpty(request.MountPath)) problems.Add(new(ErrorCodes.Missing("mountPath"), "mountPath", "mountPath is required."));
            else if (!request.MountPath.StartsWith('/'))
                problems.Add(new(ErrorCodes.InvalidParameter, "mountPath", "The specified parameter mountPath is not valid: must be an absolute path."));
            if (problems.Count > 0) throw ApiException.FromProblems(problems);

            var id = Ids.Volume();
            db.Volumes.Add(new VolumeRow
            {
                Id = id,
                WorkspaceId = workspaceId,
                Name = request.Name!,
                Kind = request.Kind!,
                Source = request.Source!,
                MountPath = request.MountPath!,
                CreateTime = time.Now(),
            });
            return Mutation.Of(new CreateVolumeResponse(http.RequestId(), id));
        }, ct);
    }

    public static async Task<Ok<ListVolumesResponse>> List(string workspaceId, HttpContext http, RayfleetDbContext db, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        var rows = await db.Volumes.AsNoTracking().Where(v => v.WorkspaceId == workspaceId).OrderBy(v => v.CreateTime).ThenBy(v => v.Id).ToListAsync(ct);
        return TypedResults.Ok(new ListVolumesResponse
        {
            RequestId = http.RequestId(),
            Volumes = [.. rows.Select(v => new VolumeDto
            {
                VolumeId = v.Id, WorkspaceId = v.WorkspaceId, Name = v.Name, Kind = v.Kind, Source = v.Source, MountPath = v.MountPath, CreateTime = v.CreateTime,
            })],
            TotalCount = rows.Count,
        });
    }

    public static async Task<JsonAnswer<RequestIdResponse>> Delete(string workspaceId, string volumeId, HttpContext http, RayfleetDbContext db, MutationRunner runner, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        return await runner.RunAsync("DeleteVolume", workspaceId, ApiSupport.Query(http.Request, "clientToken"), new Parameter("volumeId", volumeId), async () =>
        {
            var row = await db.Volumes.FirstOrDefaultAsync(v => v.WorkspaceId == workspaceId && v.Id == volumeId, ct)
                      ?? throw ApiException.NotFound(ErrorCodes.VolumeNotFound, $"Volume '{volumeId}' does not exist in the workspace.");
            var users = (await db.Clusters.AsNoTracking()
                    .Where(c => c.WorkspaceId == workspaceId && (c.SpecJson.Contains(volumeId) || (c.RunSpecJson != null && c.RunSpecJson.Contains(volumeId))))
                    .Select(c => new { c.Id, c.SpecJson, c.RunSpecJson }).ToListAsync(ct))
                .Where(c => ClusterSpec.FromJson(c.SpecJson).VolumeIds.Contains(volumeId)
                            || (c.RunSpecJson is not null && ClusterSpec.FromJson(c.RunSpecJson).VolumeIds.Contains(volumeId)))
                .Select(c => c.Id).ToList();
            if (users.Count > 0)
                throw ApiException.Denied($"Volume '{volumeId}' is mounted by {users.Count} Ray cluster(s) ({string.Join(", ", users.Take(5))}); remove it from them first.");
            db.Volumes.Remove(row);
            return Mutation.Of(new RequestIdResponse(http.RequestId()));
        }, ct);
    }
}
