using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>
/// Ray log routes (emr-api.md §7): the path's <c>{instanceId}</c> is the job's submission id. ListRayLogs lists the
/// job's log folder as an object store lists a bucket; GetRayLog answers a download URL that needs no other
/// credential until it expires, served by <see cref="Download"/> outside the signed API.
/// </summary>
public static class RayLogApi
{
    private const int MaxQueryKeyLength = LogNames.MaxKeyLength;

    public static RouteGroupBuilder MapRayLogs(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/interactive/v1/workspace/{workspaceId}/ray/{instanceId}").WithTags("Ray logs").RequireRamPolicies();
        group.MapGet("/logs", List).WithName("ListRayLogs");
        group.MapGet("/log", Get).WithName("GetRayLog");
        // The token is the credential (the ACS3 scheme exempts the prefix); not an EMR action, so no RAM policy.
        routes.MapGet(LogAccessUrls.RoutePrefix + "/{token}", Download).WithName("DownloadRayLog").WithTags("Ray logs")
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream")
            .Produces(StatusCodes.Status206PartialContent, contentType: "application/octet-stream");
        return group;
    }

    public static async Task<Ok<ListRayLogsResponse>> List(
        string workspaceId, string instanceId, HttpContext http, RayfleetDbContext db, [FromServices] IJobDirectory jobs, LogStore store,
        CancellationToken ct)
    {
        var request = http.Request;
        CheckBucket(request, store);
        var maxKeys = ApiSupport.QueryInt(request, "maxKeys", 100, 1, 999);
        var delimiter = ApiSupport.Query(request, "delimiter");
        if (delimiter is not null and not "/")
            throw ApiException.Invalid($"The specified parameter delimiter is not valid: only '/' groups log folders, got {ClusterRules.Shown(delimiter)}.");
        var prefixText = QueryKey(request, "prefix");
        var markerText = QueryKey(request, "marker");
        await RequireJobAsync(db, jobs, workspaceId, instanceId, ct);

        var jobPrefix = store.JobPrefix(workspaceId, instanceId);
        var prefix = prefixText is null ? jobPrefix : Key(prefixText);
        if (!prefix.StartsWith(jobPrefix, StringComparison.Ordinal))
            throw ApiException.Invalid($"The specified parameter prefix is not valid: it must lie inside the job's log folder /{jobPrefix}, got {ClusterRules.Shown(prefixText!)}.");
        var marker = markerText is null ? null : Key(markerText);

        LogPage page;
        try
        {
            page = store.List(workspaceId, instanceId, prefix, delimiter is not null, marker, maxKeys);
        }
        catch (LogStoreException e) when (e.Failure == LogStoreFailure.InvalidName)
        {
            throw ApiException.Invalid($"The specified parameter prefix is not valid: {e.Message}");
        }
        catch (LogStoreException e)
        {
            throw Unavailable(e);
        }

        return TypedResults.Ok(new ListRayLogsResponse
        {
            Code = RayLogCodes.Success,
            Message = RayLogCodes.SuccessMessage,
            RequestId = http.RequestId(),
            Data = new ListRayLogsData
            {
                BucketName = store.BucketName,
                Prefix = "/" + prefix,
                Delimiter = delimiter ?? "",
                Marker = markerText ?? "",
                MaxKeys = maxKeys,
                IsTruncated = page.IsTruncated,
                NextMarker = page.NextMarker is null ? "" : "/" + page.NextMarker,
                ObjectList = [.. page.Entries.Select(e => new RayLogObjectDto
                {
                    IsDir = e.IsDir,
                    Name = e.Name,
                    Path = "/" + e.Key,
                    Size = e.Size,
                    TimeModified = e.Modified.ToUnixTimeMilliseconds(),
                })],
            },
        });
    }

    public static async Task<Ok<GetRayLogResponse>> Get(
        string workspaceId, string instanceId, HttpContext http, RayfleetDbContext db, [FromServices] IJobDirectory jobs, LogStore store,
        LogAccessUrls urls, CancellationToken ct)
    {
        var request = http.Request;
        CheckBucket(request, store);
        var pathText = QueryKey(request, "path") ?? throw new ApiException(400, ErrorCodes.Missing("path"), "path is required: the log file's path, as ListRayLogs shows it.");
        await RequireJobAsync(db, jobs, workspaceId, instanceId, ct);

        var jobPrefix = store.JobPrefix(workspaceId, instanceId);
        var key = Key(pathText);
        if (!key.StartsWith(jobPrefix, StringComparison.Ordinal))
            throw ApiException.Invalid($"The specified parameter path is not valid: it must lie inside the job's log folder /{jobPrefix}, got {ClusterRules.Shown(pathText)}.");
        var relativeName = key[jobPrefix.Length..];
        if (LogNames.Problem(relativeName) is { } problem)
            throw ApiException.Invalid($"The specified parameter path is not valid: {ClusterRules.Shown(pathText)} {problem}.");

        LogFile? file;
        try
        {
            file = store.Find(workspaceId, instanceId, relativeName);
        }
        catch (LogStoreException e)
        {
            throw Unavailable(e);
        }
        if (file is null) throw ApiException.NotFound(RayLogCodes.LogNotFound, $"The job has no log file {ClusterRules.Shown("/" + key)}.");

        var baseUrl = $"{request.Scheme}://{request.Host}{request.PathBase}";
        var (url, _) = urls.Create(baseUrl, workspaceId, instanceId, relativeName);
        return TypedResults.Ok(new GetRayLogResponse
        {
            Code = RayLogCodes.Success,
            Message = RayLogCodes.SuccessMessage,
            RequestId = http.RequestId(),
            Data = new GetRayLogData { AccessUrl = url },
        });
    }

    /// <summary>
    /// Serves the file a GetRayLog URL names, with HTTP Range. The token is all that is read from the request: an
    /// invalid, changed or expired one is refused before the store is touched, and the store checks the name again.
    /// </summary>
    public static FileStreamHttpResult Download(string token, HttpContext http, LogAccessUrls urls, LogStore store)
    {
        var (outcome, grant) = urls.Read(token);
        if (outcome == LogUrlOutcome.Invalid)
            throw new ApiException(403, RayLogCodes.UrlInvalid, "The log URL is not valid: it was not made by this service, or it was changed.");
        if (outcome == LogUrlOutcome.Expired)
            throw new ApiException(403, RayLogCodes.UrlExpired,
                $"The log URL expired at {grant!.Expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}; ask GetRayLog for a new one.");

        FileStream? stream;
        try
        {
            stream = store.OpenRead(grant!.WorkspaceId, grant.SubmissionId, grant.RelativeName);
        }
        catch (LogStoreException e) when (e.Failure == LogStoreFailure.InvalidName)
        {
            throw new ApiException(403, RayLogCodes.UrlInvalid, "The log URL is not valid: it names no file the log store serves.");
        }
        catch (LogStoreException e)
        {
            throw Unavailable(e);
        }
        if (stream is null)
            throw ApiException.NotFound(RayLogCodes.LogNotFound, $"The log file /{store.JobPrefix(grant.WorkspaceId, grant.SubmissionId)}{grant.RelativeName} no longer exists.");

        var modified = new DateTimeOffset(File.GetLastWriteTimeUtc(stream.SafeFileHandle), TimeSpan.Zero);
        var headers = http.Response.Headers;
        // Log text is never rendered as HTML on the service's origin, and a log that grows must not be served from a cache.
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-store";
        var etag = new EntityTagHeaderValue($"\"{modified.UtcTicks:x}-{stream.Length:x}\"");
        return TypedResults.File(stream, ContentType(grant.RelativeName), lastModified: modified, entityTag: etag, enableRangeProcessing: true);
    }

    private static string ContentType(string name) => Path.GetExtension(name).ToLowerInvariant() switch
    {
        ".log" or ".out" or ".err" or ".txt" => "text/plain; charset=utf-8",
        ".json" => "application/json",
        _ => "application/octet-stream",
    };

    private static async Task RequireJobAsync(RayfleetDbContext db, IJobDirectory jobs, string workspaceId, string instanceId, CancellationToken ct)
    {
        await ApiSupport.RequireWorkspaceAsync(db, workspaceId, ct);
        // An id that cannot be a folder name cannot be a job (and never reaches the store as a path).
        if (!LogNames.IsId(workspaceId) || !LogNames.IsId(instanceId) || !await jobs.ExistsAsync(workspaceId, instanceId, ct))
            throw ApiException.NotFound(RayLogCodes.JobNotFound, $"Ray job {ClusterRules.Shown(instanceId)} does not exist in workspace {ClusterRules.Shown(workspaceId)}.");
    }

    /// <summary>The bucket is the configured one: a client that passes the job's <c>logBucketName</c> (or none) is served.</summary>
    private static void CheckBucket(HttpRequest request, LogStore store)
    {
        var bucket = ApiSupport.Query(request, "bucketName");
        if (bucket is not null && bucket != store.BucketName)
            throw ApiException.Invalid($"The specified parameter bucketName is not valid: the job logs are in bucket '{store.BucketName}', got {ClusterRules.Shown(bucket)}.");
    }

    /// <summary>A query value that is a key or part of one: at most 1024 characters, no control characters.</summary>
    private static string? QueryKey(HttpRequest request, string name)
    {
        var value = ApiSupport.Query(request, name);
        if (value is not null && (value.Length > MaxQueryKeyLength || value.Any(char.IsControl)))
            throw ApiException.Invalid($"The specified parameter {name} is not valid: at most {MaxQueryKeyLength} characters without control characters.");
        return value;
    }

    /// <summary>A key as a client may write it: EMR shows paths with a leading '/', object stores without.</summary>
    private static string Key(string text) => text.StartsWith('/') ? text[1..] : text;

    private static ApiException Unavailable(LogStoreException e) =>
        new(503, RayLogCodes.StorageUnavailable, $"The job log store cannot be read now: {e.Message}");
}
