namespace Rayfleet.Core.Contracts;

/// <summary>Stable error codes of the compatible API (semantics.md, Errors).</summary>
public static class ErrorCodes
{
    public const string InvalidParameter = "InvalidParameter";
    public const string InvalidJson = "InvalidParameter.JSON";
    public const string QuotaExceeded = "QuotaExceeded";
    public const string IdempotentParameterMismatch = "IdempotentParameterMismatch";
    public const string WorkspaceNotFound = "InvalidWorkspace.NotFound";
    public const string ClusterNotFound = "InvalidRayCluster.NotFound";
    public const string QueueNotFound = "InvalidQueue.NotFound";
    public const string NetworkServiceNotFound = "InvalidNetworkService.NotFound";
    public const string VolumeNotFound = "InvalidVolume.NotFound";
    public const string ReleaseVersionNotFound = "InvalidReleaseVersion.NotFound";
    public const string GpuSpecNotFound = "InvalidGpuSpec.NotFound";
    public const string JobNotFound = "InvalidRayJob.NotFound";
    public const string OperationDenied = "OperationDenied";
    public const string ConcurrentModification = "ConcurrentModification";
    public const string ApiNotFound = "InvalidApi.NotFound";
    public const string RequestEntityTooLarge = "RequestEntityTooLarge";
    /// <summary>A body that is not <c>application/json</c> (415).</summary>
    public const string UnsupportedMediaType = "UnsupportedMediaType";
    public const string Throttling = "Throttling.User";
    public const string InternalError = "InternalError";

    public static string Missing(string field) => "MissingParameter." + field;
}

/// <summary>One broken rule: a stable code, the field path it concerns, and words a user can act on.</summary>
public sealed record Problem(string Code, string Field, string Message, int Status = 400);
