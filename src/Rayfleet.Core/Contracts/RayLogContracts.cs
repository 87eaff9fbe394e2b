using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

/// <summary>Codes of the Ray log operations (emr-api.md §7): the in-body success code and the error body's codes.</summary>
public static class RayLogCodes
{
    /// <summary>The <c>code</c> of a successful GetRayLog or ListRayLogs body.</summary>
    public const string Success = "1000000";
    public const string SuccessMessage = "ok";

    /// <summary>No job with that submission id in the workspace (404).</summary>
    public const string JobNotFound = ErrorCodes.JobNotFound;

    /// <summary>No log file at that path, or it is gone since the URL was made (404).</summary>
    public const string LogNotFound = "InvalidRayLog.NotFound";

    /// <summary>A download URL past its expiry (403).</summary>
    public const string UrlExpired = "InvalidRayLogUrl.Expired";

    /// <summary>A download URL that Rayfleet did not make, or that was changed: tampered or malformed (403).</summary>
    public const string UrlInvalid = "InvalidRayLogUrl.Signature";

    /// <summary>The log folder could not be read (503): the server's disk, not the request.</summary>
    public const string StorageUnavailable = "RayLogStorage.Unavailable";
}

/// <summary>GetRayLog's body: the in-body status and the download URL.</summary>
public sealed record GetRayLogResponse
{
    [JsonPropertyName("code")] public required string Code { get; init; }
    [JsonPropertyName("message")] public required string Message { get; init; }
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("data")] public required GetRayLogData Data { get; init; }
}

public sealed record GetRayLogData
{
    /// <summary>Downloads the file with no other credential until it expires; supports HTTP Range.</summary>
    [JsonPropertyName("accessUrl")] public required string AccessUrl { get; init; }
}

/// <summary>ListRayLogs' body: the in-body status and one page of an object-store listing.</summary>
public sealed record ListRayLogsResponse
{
    [JsonPropertyName("code")] public required string Code { get; init; }
    [JsonPropertyName("message")] public required string Message { get; init; }
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("data")] public required ListRayLogsData Data { get; init; }
}

public sealed record ListRayLogsData
{
    [JsonPropertyName("bucketName")] public required string BucketName { get; init; }
    /// <summary>The prefix listed, in the form of <c>path</c> (leading '/'); the job's folder when none was given.</summary>
    [JsonPropertyName("prefix")] public required string Prefix { get; init; }
    /// <summary>As given; <c>""</c> when none.</summary>
    [JsonPropertyName("delimiter")] public required string Delimiter { get; init; }
    /// <summary>As given; <c>""</c> when none.</summary>
    [JsonPropertyName("marker")] public required string Marker { get; init; }
    [JsonPropertyName("maxKeys")] public required long MaxKeys { get; init; }
    [JsonPropertyName("isTruncated")] public required bool IsTruncated { get; init; }
    /// <summary>The <c>path</c> of the page's last entry when truncated (pass it as <c>marker</c>); <c>""</c> otherwise.</summary>
    [JsonPropertyName("nextMarker")] public required string NextMarker { get; init; }
    [JsonPropertyName("objectList")] public required IReadOnlyList<RayLogObjectDto> ObjectList { get; init; }
}

public sealed record RayLogObjectDto
{
    /// <summary>True for a directory (an object-store common prefix, only with a delimiter).</summary>
    [JsonPropertyName("isDir")] public required bool IsDir { get; init; }
    /// <summary>The last segment of the path, without a trailing '/'.</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>The object key with a leading '/' (a directory's ends with '/').</summary>
    [JsonPropertyName("path")] public required string Path { get; init; }
    /// <summary>Bytes; 0 for a directory.</summary>
    [JsonPropertyName("size")] public required long Size { get; init; }
    /// <summary>Unix epoch milliseconds.</summary>
    [JsonPropertyName("timeModified")] public required long TimeModified { get; init; }
}
