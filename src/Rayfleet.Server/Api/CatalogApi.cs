using Microsoft.AspNetCore.Http.HttpResults;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Api;

/// <summary>Release versions (emr-api.md §11) and the GPU catalogue (read-only extension), both from configuration.</summary>
public static class CatalogApi
{
    public static IEndpointRouteBuilder MapCatalogs(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/releaseVersions", ListReleaseVersions).WithTags("Catalogues").WithName("ListReleaseVersions").RequireRamPolicies();
        routes.MapGet("/api/v1/gpuSpecs", ListGpuSpecs).WithTags("Catalogues").WithName("ListGpuSpecs").RequireRamPolicies();
        return routes;
    }

    public static Ok<ListReleaseVersionsResponse> ListReleaseVersions(HttpContext http, Catalogs catalogs, TimeProvider time)
    {
        var releaseType = ApiSupport.Query(http.Request, "releaseType");
        var releaseVersion = ApiSupport.Query(http.Request, "releaseVersion");
        var status = ApiSupport.Query(http.Request, "releaseVersionStatus");
        var items = catalogs.Releases
            .Where(r => releaseType is null || string.Equals(r.Type, releaseType, StringComparison.OrdinalIgnoreCase))
            .Where(r => releaseVersion is null || r.DisplayReleaseVersion == releaseVersion)
            .Where(r => status is null || string.Equals(r.State, status, StringComparison.OrdinalIgnoreCase))
            .Select(r => new ReleaseVersionDto
            {
                ReleaseVersion = r.DisplayReleaseVersion,
                DisplayReleaseVersion = r.DisplayReleaseVersion,
                State = r.State,
                Type = r.Type,
                CommunityVersion = "Ray " + r.RayVersion,
                RayVersion = r.RayVersion,
                PythonVersion = r.PythonVersion,
                Image = r.Image,
                IsDefault = ReferenceEquals(r, catalogs.DefaultRelease),
            })
            .ToList();
        return TypedResults.Ok(new ListReleaseVersionsResponse
        {
            RequestId = http.RequestId(),
            ReleaseVersions = items,
            MaxResults = items.Count,
            TotalCount = items.Count,
        });
    }

    public static Ok<ListGpuSpecsResponse> ListGpuSpecs(HttpContext http, Catalogs catalogs)
    {
        var items = catalogs.GpuTypes.Values.OrderBy(g => g.InstanceType, StringComparer.Ordinal).Select(g => new GpuTypeDto
        {
            InstanceType = g.InstanceType,
            Cpu = g.Cpu,
            Memory = g.Memory,
            GpuCount = g.GpuCount,
            GpuModel = g.GpuModel,
            NodeLabels = g.NodeLabels,
        }).ToList();
        return TypedResults.Ok(new ListGpuSpecsResponse { RequestId = http.RequestId(), GpuSpecs = items, TotalCount = items.Count });
    }
}
