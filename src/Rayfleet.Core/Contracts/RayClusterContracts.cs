using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

// Wire shapes of the Ray cluster operations (emr-api.md §4, §5). Every property is nullable because the official
// SDKs send only what the caller set, and the C# SDK sends unset nested members as explicit nulls.

public sealed record GftConfigDto
{
    [JsonPropertyName("redisUrl")] public string? RedisUrl { get; init; }
    [JsonPropertyName("redisUsername")] public string? RedisUsername { get; init; }
    [JsonPropertyName("redisPassword")] public string? RedisPassword { get; init; }
}

public sealed record HeadSpecDto
{
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("enableAutoScaling")] public bool? EnableAutoScaling { get; init; }
    [JsonPropertyName("idleTimeoutSeconds")] public int? IdleTimeoutSeconds { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("env")] public string? Env { get; init; }
    [JsonPropertyName("rayStartParams")] public string? RayStartParams { get; init; }
    [JsonPropertyName("gftEnabled")] public bool? GftEnabled { get; init; }
    [JsonPropertyName("gftConfig")] public GftConfigDto? GftConfig { get; init; }
    /// <summary>Response only: number of head nodes, always 1.</summary>
    [JsonPropertyName("replica")] public int? Replica { get; init; }
}

public sealed record WorkerSpecDto
{
    [JsonPropertyName("groupName")] public string? GroupName { get; init; }
    [JsonPropertyName("workerType")] public string? WorkerType { get; init; }
    [JsonPropertyName("replica")] public int? Replica { get; init; }
    [JsonPropertyName("minReplica")] public int? MinReplica { get; init; }
    [JsonPropertyName("maxReplica")] public int? MaxReplica { get; init; }
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("env")] public string? Env { get; init; }
    [JsonPropertyName("rayStartParams")] public string? RayStartParams { get; init; }
}

/// <summary>Body of CreateRayCluster and UpdateRayCluster (identical key sets).</summary>
public sealed record RayClusterRequest
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("networkServiceName")] public string? NetworkServiceName { get; init; }
    [JsonPropertyName("extraParam")] public string? ExtraParam { get; init; }
    [JsonPropertyName("headSpec")] public HeadSpecDto? HeadSpec { get; init; }
    [JsonPropertyName("workerSpec")] public List<WorkerSpecDto?>? WorkerSpec { get; init; }
    [JsonPropertyName("volumeIds")] public List<string?>? VolumeIds { get; init; }
    /// <summary>Rayfleet extension: idempotency token accepted on every mutating call.</summary>
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record CreateRayClusterResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("clusterId")] string ClusterId);

public sealed record RequestIdResponse([property: JsonPropertyName("requestId")] string RequestId);

/// <summary>EditWorkspaceQueue and DeleteWorkspaceQueue answer with a capitalised key (emr-api.md §8.2, §8.3).</summary>
public sealed record CapitalRequestIdResponse([property: JsonPropertyName("RequestId")] string RequestId);

public sealed record StartRayClusterRequest
{
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record StopRayClusterRequest
{
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record RayNodeDto
{
    [JsonPropertyName("instanceId")] public required string InstanceId { get; init; }
    [JsonPropertyName("type")] public required string Type { get; init; }
    [JsonPropertyName("phase")] public required string Phase { get; init; }
    [JsonPropertyName("message")] public string Message { get; init; } = "";
    [JsonPropertyName("reason")] public string Reason { get; init; } = "";
    [JsonPropertyName("containerState")] public string ContainerState { get; init; } = "";
    [JsonPropertyName("containerStateMessage")] public string ContainerStateMessage { get; init; } = "";
    [JsonPropertyName("containerStateReason")] public string ContainerStateReason { get; init; } = "";
    [JsonPropertyName("containerExitCode")] public int ContainerExitCode { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    /// <summary>Rayfleet extension: worker group of a worker node, null for the head.</summary>
    [JsonPropertyName("groupName")] public string? GroupName { get; init; }
}

public sealed record GetRayClusterResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("clusterId")] public required string ClusterId { get; init; }
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("networkServiceName")] public string? NetworkServiceName { get; init; }
    [JsonPropertyName("extraParam")] public string? ExtraParam { get; init; }
    [JsonPropertyName("headSpec")] public required HeadSpecDto HeadSpec { get; init; }
    [JsonPropertyName("workerSpec")] public required List<WorkerSpecDto> WorkerSpec { get; init; }
    [JsonPropertyName("volumeIds")] public required List<string> VolumeIds { get; init; }
    [JsonPropertyName("state")] public required string State { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("modified")] public bool Modified { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    [JsonPropertyName("modifiedTime")] public long ModifiedTime { get; init; }
    [JsonPropertyName("creator")] public string? Creator { get; init; }
    [JsonPropertyName("creatorName")] public string? CreatorName { get; init; }
    [JsonPropertyName("modifier")] public string? Modifier { get; init; }
    [JsonPropertyName("modifierName")] public string? ModifierName { get; init; }
    [JsonPropertyName("userId")] public string? UserId { get; init; }
    [JsonPropertyName("dashboardUrl")] public string? DashboardUrl { get; init; }
    [JsonPropertyName("jobUrl")] public string? JobUrl { get; init; }
    [JsonPropertyName("jobUrlInner")] public string? JobUrlInner { get; init; }
    [JsonPropertyName("grpcEndpoint")] public string? GrpcEndpoint { get; init; }
    [JsonPropertyName("submitToken")] public string? SubmitToken { get; init; }
    [JsonPropertyName("instances")] public required List<RayNodeDto> Instances { get; init; }
    /// <summary>Rayfleet extension: the Ray job a job-mode cluster was created for.</summary>
    [JsonPropertyName("jobSubmissionId"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? JobSubmissionId { get; init; }
    /// <summary>Rayfleet extension: CU-hours the cluster's nodes ran (README, "Usage").</summary>
    [JsonPropertyName("cuHours")] public double CuHours { get; init; }
    /// <summary>Rayfleet extension: GPU-hours, with the GPU type.</summary>
    [JsonPropertyName("guHours")] public GuHoursDto GuHours { get; init; } = new();
}

/// <summary>ListRayCluster item: no extraParam, instances, jobUrl, jobUrlInner, submitToken or volumeIds; short head spec.</summary>
public sealed record RayClusterSummaryDto
{
    [JsonPropertyName("clusterId")] public required string ClusterId { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public string? DisplayReleaseVersion { get; init; }
    [JsonPropertyName("networkServiceName")] public string? NetworkServiceName { get; init; }
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("state")] public required string State { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("modified")] public bool Modified { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
    [JsonPropertyName("startTime")] public long? StartTime { get; init; }
    [JsonPropertyName("modifiedTime")] public long ModifiedTime { get; init; }
    [JsonPropertyName("creator")] public string? Creator { get; init; }
    [JsonPropertyName("creatorName")] public string? CreatorName { get; init; }
    [JsonPropertyName("modifier")] public string? Modifier { get; init; }
    [JsonPropertyName("modifierName")] public string? ModifierName { get; init; }
    [JsonPropertyName("userId")] public string? UserId { get; init; }
    [JsonPropertyName("dashboardUrl")] public string? DashboardUrl { get; init; }
    [JsonPropertyName("grpcEndpoint")] public string? GrpcEndpoint { get; init; }
    [JsonPropertyName("headSpec")] public required ListHeadSpecDto HeadSpec { get; init; }
    [JsonPropertyName("workerSpec")] public required List<ListWorkerSpecDto> WorkerSpec { get; init; }
    /// <summary>Rayfleet extension: the Ray job a job-mode cluster was created for.</summary>
    [JsonPropertyName("jobSubmissionId"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? JobSubmissionId { get; init; }
    /// <summary>Rayfleet extension: CU-hours the cluster's nodes ran (README, "Usage").</summary>
    [JsonPropertyName("cuHours")] public double CuHours { get; init; }
    /// <summary>Rayfleet extension: GPU-hours, with the GPU type.</summary>
    [JsonPropertyName("guHours")] public GuHoursDto GuHours { get; init; } = new();
}

public sealed record ListHeadSpecDto
{
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("enableAutoScaling")] public bool? EnableAutoScaling { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
    [JsonPropertyName("idleTimeoutSeconds")] public int? IdleTimeoutSeconds { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("replica")] public int Replica { get; init; } = 1;
}

public sealed record ListWorkerSpecDto
{
    [JsonPropertyName("groupName")] public string? GroupName { get; init; }
    [JsonPropertyName("workerType")] public string? WorkerType { get; init; }
    [JsonPropertyName("replica")] public int? Replica { get; init; }
    [JsonPropertyName("minReplica")] public int? MinReplica { get; init; }
    [JsonPropertyName("maxReplica")] public int? MaxReplica { get; init; }
    [JsonPropertyName("cpu")] public string? Cpu { get; init; }
    [JsonPropertyName("memory")] public string? Memory { get; init; }
    [JsonPropertyName("queueName")] public string? QueueName { get; init; }
    [JsonPropertyName("gpuSpec")] public string? GpuSpec { get; init; }
}

public sealed record ListRayClusterResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("rayClusters")] public required List<RayClusterSummaryDto> RayClusters { get; init; }
    /// <summary>Rayfleet extension (semantics.md, Lists).</summary>
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}
