namespace Rayfleet.Server.Jobs;

/// <summary>Where a job's logs are kept, as GetRayJob reports it (<c>logBucketName</c>, <c>logPath</c>).</summary>
public sealed class JobLogPlaces(string bucketName)
{
    public string BucketName { get; } = bucketName;

    /// <summary>After EMR's logPath: <c>&lt;workspaceId&gt;/ray/logs/&lt;submissionId&gt;/</c>.</summary>
    public string JobPrefix(string workspaceId, string submissionId) => $"{workspaceId}/ray/logs/{submissionId}/";
}
