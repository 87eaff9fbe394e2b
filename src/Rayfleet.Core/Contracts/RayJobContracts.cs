using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

// Wire shapes of the Ray job operations (emr-api.md §6). As for clusters, every request member is nullable: the SDKs
// send only what the caller set, and the C# SDK sends unset nested members as explicit nulls.

/// <summary>SubmitRayJob's head spec: no env, rayStartParams or gft settings (emr-api.md §6.1).</summary>
public sealed record JobHeadSpecDto
{
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("enableAutoScaling")] public bool? EnableAutoScaling { get; init; }
    [JsonPropertyName("idleTimeoutSeconds")] public int? IdleTimeoutSeconds { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    /// <summary>Response only: number of head nodes, always 1.</summary>
    [JsonPropertyName("replica")] public int? Replica { get; init; }
}

/// <summary>SubmitRayJob's worker group; GetRayJob answers the same without <c>workerType</c>.</summary>
public sealed record JobWorkerSpecDto
{
    [JsonPropertyName("groupName")] public string? GroupName { get; init; }
    [JsonPropertyName("workerType"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? WorkerType { get; init; }
    [JsonPropertyName("replica")] public int? Replica { get; init; }
    [JsonPropertyName("minReplica")] public int? MinReplica { get; init; }
    [JsonPropertyName("maxReplica")] public int? MaxReplica { get; init; }
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
}

public sealed record SubmitRayJobRequest
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("entrypoint")] public string? Entrypoint { get; init; }
    [JsonPropertyName("workingDir")] public string? WorkingDir { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("clusterId")] public string? ClusterId { get; init; }
    [JsonPropertyName("networkServiceName")] public string? NetworkServiceName { get; init; }
    [JsonPropertyName("runtimeEnvJson")] public string? RuntimeEnvJson { get; init; }
    [JsonPropertyName("metadataJson")] public string? MetadataJson { get; init; }
    [JsonPropertyName("extraParam")] public string? ExtraParam { get; init; }
    [JsonPropertyName("entrypointNumCpus")] public string? EntrypointNumCpus { get; init; }
    [JsonPropertyName("entrypointNumGpus")] public string? EntrypointNumGpus { get; init; }
    [JsonPropertyName("entrypointMemory")] public string? EntrypointMemory { get; init; }
    [JsonPropertyName("entrypointResources")] public string? EntrypointResources { get; init; }
    [JsonPropertyName("activeDeadlineSeconds")] public int? ActiveDeadlineSeconds { get; init; }
    [JsonPropertyName("shutdownAfterJobFinishes")] public bool? ShutdownAfterJobFinishes { get; init; }
    [JsonPropertyName("ttlSecondsAfterFinished")] public int? TtlSecondsAfterFinished { get; init; }
    [JsonPropertyName("submissionMode")] public string? SubmissionMode { get; init; }
    [JsonPropertyName("tags")] public List<TagDto?>? Tags { get; init; }
    [JsonPropertyName("volumeIds")] public List<string?>? VolumeIds { get; init; }
    [JsonPropertyName("headSpec")] public JobHeadSpecDto? HeadSpec { get; init; }
    [JsonPropertyName("workerSpec")] public List<JobWorkerSpecDto?>? WorkerSpec { get; init; }
    /// <summary>Rayfleet extension: idempotency token accepted on every mutating call.</summary>
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record SubmitRayJobResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("submissionId")] string SubmissionId);

public sealed record CancelRayJobResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("success")] bool Success);

public sealed record GuHoursDto
{
    [JsonPropertyName("gpuHours"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? GpuHours { get; init; }
    [JsonPropertyName("gpuSpec"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? GpuSpec { get; init; }
}

public sealed record GetRayJobResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("submissionId")] public required string SubmissionId { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("clusterState")] public required string ClusterState { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("entrypoint")] public string? Entrypoint { get; init; }
    [JsonPropertyName("entrypointMemory")] public string? EntrypointMemory { get; init; }
    [JsonPropertyName("entrypointNumCpus")] public string? EntrypointNumCpus { get; init; }
    [JsonPropertyName("entrypointNumGpus")] public string? EntrypointNumGpus { get; init; }
    [JsonPropertyName("entrypointResources")] public string? EntrypointResources { get; init; }
    [JsonPropertyName("workingDir")] public string? WorkingDir { get; init; }
    [JsonPropertyName("runtimeEnvJson")] public string? RuntimeEnvJson { get; init; }
    [JsonPropertyName("metadataJson")] public string? MetadataJson { get; init; }
    [JsonPropertyName("extraParam")] public string? ExtraParam { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("networkServiceName")] public string? NetworkServiceName { get; init; }
    [JsonPropertyName("submissionMode")] public string? SubmissionMode { get; init; }
    [JsonPropertyName("activeDeadlineSeconds")] public int? ActiveDeadlineSeconds { get; init; }
    [JsonPropertyName("backoffLimit")] public int BackoffLimit { get; init; }
    [JsonPropertyName("shutdownAfterJobFinishes")] public bool ShutdownAfterJobFinishes { get; init; }
    [JsonPropertyName("ttlSecondsAfterFinished")] public int? TtlSecondsAfterFinished { get; init; }
    [JsonPropertyName("submitTime")] public long SubmitTime { get; init; }
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    [JsonPropertyName("endTime")] public long? EndTime { get; init; }
    [JsonPropertyName("duration")] public long Duration { get; init; }
    [JsonPropertyName("cuHours")] public double CuHours { get; init; }
    [JsonPropertyName("guHours")] public required GuHoursDto GuHours { get; init; }
    [JsonPropertyName("dashboardUrl")] public string? DashboardUrl { get; init; }
    [JsonPropertyName("dashboardUrlExtra")] public List<string> DashboardUrlExtra { get; init; } = [];
    [JsonPropertyName("logBucketName")] public string? LogBucketName { get; init; }
    [JsonPropertyName("logPath")] public string? LogPath { get; init; }
    [JsonPropertyName("creatorName")] public string? CreatorName { get; init; }
    [JsonPropertyName("taskBizId")] public string? TaskBizId { get; init; }
    [JsonPropertyName("tags")] public required List<TagDto> Tags { get; init; }
    [JsonPropertyName("volumeIds")] public required List<string> VolumeIds { get; init; }
    [JsonPropertyName("headSpec")] public JobHeadSpecDto? HeadSpec { get; init; }
    [JsonPropertyName("workerSpecs")] public required List<JobWorkerSpecDto> WorkerSpecs { get; init; }
    /// <summary>Rayfleet extension: the cluster the job runs on (its own job-mode cluster, or the one it was sent to).</summary>
    [JsonPropertyName("clusterId")] public string? ClusterId { get; init; }
}

public sealed record RayJobSummaryDto
{
    [JsonPropertyName("submissionId")] public required string SubmissionId { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("clusterState")] public required string ClusterState { get; init; }
    [JsonPropertyName("creatorName")] public string? CreatorName { get; init; }
    [JsonPropertyName("cuHours")] public double CuHours { get; init; }
    [JsonPropertyName("dashboardUrl")] public string? DashboardUrl { get; init; }
    [JsonPropertyName("duration")] public long Duration { get; init; }
    [JsonPropertyName("submitTime")] public long SubmitTime { get; init; }
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    [JsonPropertyName("endTime")] public long? EndTime { get; init; }
    [JsonPropertyName("resourceQueue")] public string? ResourceQueue { get; init; }
    /// <summary>Rayfleet extension, as in GetRayJob.</summary>
    [JsonPropertyName("clusterId")] public string? ClusterId { get; init; }
}

public sealed record ListRayJobResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
    [JsonPropertyName("rayJobs")] public required List<RayJobSummaryDto> RayJobs { get; init; }
}

/// <summary>ListRayJob's <c>submitTime</c> query: a JSON object sent as a string (emr-api.md §6.3).</summary>
public sealed record SubmitTimeRangeDto
{
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    [JsonPropertyName("endTime")] public long? EndTime { get; init; }
}
