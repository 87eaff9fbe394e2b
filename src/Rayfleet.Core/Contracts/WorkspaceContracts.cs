using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

public sealed record TagDto
{
    [JsonPropertyName("key")] public string? Key { get; init; }
    [JsonPropertyName("value")] public string? Value { get; init; }
}

public sealed record WorkspaceResourceSpecDto
{
    // The SDK models cu as a string on CreateWorkspace ("1000").
    [JsonPropertyName("cu")] public string? Cu { get; init; }
    [JsonPropertyName("gpu")] public int? Gpu { get; init; }
}

public sealed record CreateWorkspaceRequest
{
    [JsonPropertyName("workspaceName")] public string? WorkspaceName { get; init; }
    [JsonPropertyName("ossBucket")] public string? OssBucket { get; init; }
    [JsonPropertyName("ramRoleName")] public string? RamRoleName { get; init; }
    [JsonPropertyName("paymentType")] public string? PaymentType { get; init; }
    [JsonPropertyName("paymentDurationUnit")] public string? PaymentDurationUnit { get; init; }
    [JsonPropertyName("duration")] public string? Duration { get; init; }
    [JsonPropertyName("autoRenew")] public string? AutoRenew { get; init; }
    [JsonPropertyName("autoRenewPeriod")] public string? AutoRenewPeriod { get; init; }
    [JsonPropertyName("autoRenewPeriodUnit")] public string? AutoRenewPeriodUnit { get; init; }
    [JsonPropertyName("resourceSpec")] public WorkspaceResourceSpecDto? ResourceSpec { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string?>? GpuSpec { get; init; }
    [JsonPropertyName("autoStartSessionCluster")] public bool? AutoStartSessionCluster { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
    [JsonPropertyName("dlfCatalogId")] public string? DlfCatalogId { get; init; }
    [JsonPropertyName("dlfType")] public string? DlfType { get; init; }
    [JsonPropertyName("releaseType")] public string? ReleaseType { get; init; }
    [JsonPropertyName("resourceGroupId")] public string? ResourceGroupId { get; init; }
    [JsonPropertyName("tag")] public List<TagDto?>? Tag { get; init; }
    /// <summary>Rayfleet extension: the provider that runs this workspace's clusters; default from configuration.</summary>
    [JsonPropertyName("provider")] public string? Provider { get; init; }
}

public sealed record CreateWorkspaceResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("workspaceId")] string WorkspaceId,
    [property: JsonPropertyName("operationId")] string OperationId);

/// <summary>UpdateWorkspace's <c>subscription</c> (emr-api.md §10.3): the CreateWorkspace payment terms, as strings.</summary>
public sealed record WorkspaceSubscriptionDto
{
    [JsonPropertyName("autoRenew")] public string? AutoRenew { get; init; }
    [JsonPropertyName("autoRenewPeriod")] public string? AutoRenewPeriod { get; init; }
    [JsonPropertyName("autoRenewPeriodUnit")] public string? AutoRenewPeriodUnit { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
    [JsonPropertyName("duration")] public string? Duration { get; init; }
    [JsonPropertyName("paymentDurationUnit")] public string? PaymentDurationUnit { get; init; }
    [JsonPropertyName("queue")] public List<string?>? Queue { get; init; }
}

/// <summary>UpdateWorkspace's <c>gpuSubscription</c> (+1.21.0): buying GPU machines; typed, unlike <c>subscription</c>.</summary>
public sealed record GpuSubscriptionDto
{
    [JsonPropertyName("autoRenew")] public bool? AutoRenew { get; init; }
    [JsonPropertyName("duration")] public int? Duration { get; init; }
    [JsonPropertyName("gpuMachineNum")] public int? GpuMachineNum { get; init; }
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("instanceTypeId")] public string? InstanceTypeId { get; init; }
    [JsonPropertyName("operation")] public string? Operation { get; init; }
    [JsonPropertyName("paymentDurationUnit")] public string? PaymentDurationUnit { get; init; }
}

/// <summary>UpdateWorkspace (emr-api.md §10.3): a merge, absent or null keeps the value.</summary>
public sealed record UpdateWorkspaceRequest
{
    [JsonPropertyName("workspaceId")] public string? WorkspaceId { get; init; }
    [JsonPropertyName("workspaceName")] public string? WorkspaceName { get; init; }
    // int32 here, unlike CreateWorkspace's string resourceSpec.cu.
    [JsonPropertyName("cu")] public int? Cu { get; init; }
    [JsonPropertyName("gpu")] public int? Gpu { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string?>? GpuSpec { get; init; }
    [JsonPropertyName("resourceGroupId")] public string? ResourceGroupId { get; init; }
    [JsonPropertyName("ipWhiteList")] public List<string?>? IpWhiteList { get; init; }
    [JsonPropertyName("subscription")] public WorkspaceSubscriptionDto? Subscription { get; init; }
    [JsonPropertyName("gpuSubscription")] public GpuSubscriptionDto? GpuSubscription { get; init; }
    /// <summary>Rayfleet extension: the idempotency token when <c>subscription.clientToken</c> is not sent.</summary>
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record UpdateWorkspaceOrderDto([property: JsonPropertyName("orderId")] string OrderId);

public sealed record UpdateWorkspaceResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("orderId")] string OrderId,
    [property: JsonPropertyName("data")] UpdateWorkspaceOrderDto Data);

public sealed record StateChangeReasonDto(
    [property: JsonPropertyName("code")] string? Code,
    [property: JsonPropertyName("message")] string? Message);

public sealed record WorkspaceTagDto(
    [property: JsonPropertyName("tagKey")] string? TagKey,
    [property: JsonPropertyName("tagValue")] string? TagValue);

public sealed record WorkspaceDto
{
    [JsonPropertyName("workspaceId")] public required string WorkspaceId { get; init; }
    [JsonPropertyName("workspaceName")] public required string WorkspaceName { get; init; }
    [JsonPropertyName("workspaceStatus")] public string WorkspaceStatus { get; init; } = "RUNNING";
    [JsonPropertyName("regionId")] public string? RegionId { get; init; }
    [JsonPropertyName("resourceSpec")] public string? ResourceSpec { get; init; }
    [JsonPropertyName("storage")] public string? Storage { get; init; }
    [JsonPropertyName("dlfCatalogId")] public string? DlfCatalogId { get; init; }
    [JsonPropertyName("dlfType")] public string? DlfType { get; init; }
    [JsonPropertyName("paymentType")] public string? PaymentType { get; init; }
    [JsonPropertyName("paymentStatus")] public string? PaymentStatus { get; init; }
    [JsonPropertyName("paymentDurationUnit")] public string? PaymentDurationUnit { get; init; }
    [JsonPropertyName("duration")] public int? Duration { get; init; }
    [JsonPropertyName("autoRenew")] public bool? AutoRenew { get; init; }
    [JsonPropertyName("autoRenewPeriod")] public int? AutoRenewPeriod { get; init; }
    [JsonPropertyName("autoRenewPeriodUnit")] public string? AutoRenewPeriodUnit { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
    [JsonPropertyName("releaseType")] public string? ReleaseType { get; init; }
    [JsonPropertyName("resourceGroupId")] public string? ResourceGroupId { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string>? GpuSpec { get; init; }
    [JsonPropertyName("ipWhiteList")] public List<string>? IpWhiteList { get; init; }
    [JsonPropertyName("stateChangeReason")] public StateChangeReasonDto? StateChangeReason { get; init; }
    [JsonPropertyName("tags")] public List<WorkspaceTagDto>? Tags { get; init; }
    /// <summary>Rayfleet extension.</summary>
    [JsonPropertyName("provider")] public string? Provider { get; init; }
}

public sealed record ListWorkspacesResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("workspaces")] public required List<WorkspaceDto> Workspaces { get; init; }
    [JsonPropertyName("maxResults")] public int MaxResults { get; init; }
    [JsonPropertyName("nextToken")] public string? NextToken { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

public sealed record GetWorkspaceResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("workspace")] public required WorkspaceDto Workspace { get; init; }
}

public sealed record QueueResourceSpecDto
{
    [JsonPropertyName("cu")] public decimal? Cu { get; init; }
    [JsonPropertyName("maxCu")] public decimal? MaxCu { get; init; }
    [JsonPropertyName("gpu")] public int? Gpu { get; init; }
    [JsonPropertyName("gpuMachineNum")] public int? GpuMachineNum { get; init; }
}

public sealed record WorkspaceQueueRequest
{
    [JsonPropertyName("workspaceId")] public string? WorkspaceId { get; init; }
    [JsonPropertyName("workspaceQueueName")] public string? WorkspaceQueueName { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("queueCategory")] public string? QueueCategory { get; init; }
    [JsonPropertyName("paymentType")] public string? PaymentType { get; init; }
    [JsonPropertyName("preheat")] public bool? Preheat { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string?>? GpuSpec { get; init; }
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("environments")] public List<string?>? Environments { get; init; }
    [JsonPropertyName("resourceSpec")] public QueueResourceSpecDto? ResourceSpec { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record QueueDto
{
    [JsonPropertyName("queueName")] public required string QueueName { get; init; }
    [JsonPropertyName("workspaceId")] public required string WorkspaceId { get; init; }
    [JsonPropertyName("regionId")] public string? RegionId { get; init; }
    [JsonPropertyName("queueStatus")] public string QueueStatus { get; init; } = "RUNNING";
    [JsonPropertyName("queueType")] public string QueueType { get; init; } = "instance";
    [JsonPropertyName("queueScope")] public string? QueueScope { get; init; }
    [JsonPropertyName("queueCategory")] public string? QueueCategory { get; init; }
    [JsonPropertyName("properties")] public string? Properties { get; init; }
    [JsonPropertyName("environments")] public List<string> Environments { get; init; } = [];
    [JsonPropertyName("maxResource")] public required string MaxResource { get; init; }
    [JsonPropertyName("minResource")] public required string MinResource { get; init; }
    [JsonPropertyName("usedResource")] public required string UsedResource { get; init; }
    [JsonPropertyName("paymentType")] public string? PaymentType { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
    [JsonPropertyName("creator")] public string? Creator { get; init; }
    [JsonPropertyName("preheat")] public bool Preheat { get; init; }
    [JsonPropertyName("gpuSpec")] public List<string> GpuSpec { get; init; } = [];
    [JsonPropertyName("gpuMachineNum")] public int? GpuMachineNum { get; init; }
    [JsonPropertyName("instanceId")] public string? InstanceId { get; init; }
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("allowActions")] public List<JsonElement> AllowActions { get; init; } = [];
}

public sealed record ListWorkspaceQueuesResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("queues")] public required List<QueueDto> Queues { get; init; }
    [JsonPropertyName("maxResults")] public int MaxResults { get; init; }
    [JsonPropertyName("nextToken")] public string? NextToken { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

public sealed record CreateNetworkServiceRequest
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("vpcId")] public string? VpcId { get; init; }
    [JsonPropertyName("vswitchIds")] public List<string?>? VswitchIds { get; init; }
    [JsonPropertyName("securityGroupId")] public string? SecurityGroupId { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record CreateNetworkServiceResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("operationId")] string OperationId,
    [property: JsonPropertyName("networkServiceId")] string NetworkServiceId);

public sealed record NetworkServiceDto
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("networkServiceId")] public required string NetworkServiceId { get; init; }
    [JsonPropertyName("state")] public string State { get; init; } = "running";
    [JsonPropertyName("stateChangeReason")] public StateChangeReasonDto? StateChangeReason { get; init; }
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("vpcId")] public string? VpcId { get; init; }
    [JsonPropertyName("vswitchIds")] public List<string> VswitchIds { get; init; } = [];
    [JsonPropertyName("securityGroupId")] public string? SecurityGroupId { get; init; }
    [JsonPropertyName("workspaceId")] public required string WorkspaceId { get; init; }
}

public sealed record ListNetworkServicesResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("networkServices")] public required List<NetworkServiceDto> NetworkServices { get; init; }
    /// <summary>Deprecated in the SDK; same items as networkServices.</summary>
    [JsonPropertyName("queues")] public required List<NetworkServiceDto> Queues { get; init; }
    [JsonPropertyName("maxResults")] public int MaxResults { get; init; }
    [JsonPropertyName("nextToken")] public string? NextToken { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

public sealed record CreateVolumeRequest
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("kind")] public string? Kind { get; init; }
    [JsonPropertyName("source")] public string? Source { get; init; }
    [JsonPropertyName("mountPath")] public string? MountPath { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record VolumeDto
{
    [JsonPropertyName("volumeId")] public required string VolumeId { get; init; }
    [JsonPropertyName("workspaceId")] public required string WorkspaceId { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    [JsonPropertyName("source")] public required string Source { get; init; }
    [JsonPropertyName("mountPath")] public required string MountPath { get; init; }
    [JsonPropertyName("createTime")] public long CreateTime { get; init; }
}

public sealed record CreateVolumeResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("volumeId")] string VolumeId);

public sealed record ListVolumesResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("volumes")] public required List<VolumeDto> Volumes { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

public sealed record ReleaseVersionDto
{
    [JsonPropertyName("releaseVersion")] public required string ReleaseVersion { get; init; }
    [JsonPropertyName("displayReleaseVersion")] public required string DisplayReleaseVersion { get; init; }
    [JsonPropertyName("state")] public required string State { get; init; }
    [JsonPropertyName("type")] public required string Type { get; init; }
    [JsonPropertyName("iaasType")] public string IaasType { get; init; } = "ASI";
    [JsonPropertyName("gmtCreate")] public long GmtCreate { get; init; }
    [JsonPropertyName("scalaVersion")] public string? ScalaVersion { get; init; }
    [JsonPropertyName("communityVersion")] public required string CommunityVersion { get; init; }
    [JsonPropertyName("cpuArchitectures")] public List<string> CpuArchitectures { get; init; } = ["x86"];
    [JsonPropertyName("fusion")] public bool Fusion { get; init; }
    [JsonPropertyName("isCustom")] public bool IsCustom { get; init; }
    /// <summary>Rayfleet extensions: what the version runs.</summary>
    [JsonPropertyName("rayVersion")] public required string RayVersion { get; init; }
    [JsonPropertyName("pythonVersion")] public required string PythonVersion { get; init; }
    [JsonPropertyName("image")] public required string Image { get; init; }
    [JsonPropertyName("isDefault")] public bool IsDefault { get; init; }
}

public sealed record ListReleaseVersionsResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("releaseVersions")] public required List<ReleaseVersionDto> ReleaseVersions { get; init; }
    [JsonPropertyName("maxResults")] public int MaxResults { get; init; }
    [JsonPropertyName("nextToken")] public string? NextToken { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

public sealed record GpuTypeDto
{
    [JsonPropertyName("instanceType")] public required string InstanceType { get; init; }
    [JsonPropertyName("cpu")] public required string Cpu { get; init; }
    [JsonPropertyName("memory")] public required string Memory { get; init; }
    [JsonPropertyName("gpuCount")] public int GpuCount { get; init; }
    [JsonPropertyName("gpuModel")] public required string GpuModel { get; init; }
    [JsonPropertyName("nodeLabels")] public required Dictionary<string, string> NodeLabels { get; init; }
}

public sealed record ListGpuSpecsResponse
{
    [JsonPropertyName("requestId")] public required string RequestId { get; init; }
    [JsonPropertyName("gpuSpecs")] public required List<GpuTypeDto> GpuSpecs { get; init; }
    [JsonPropertyName("totalCount")] public int TotalCount { get; init; }
}

/// <summary>The JSON object that a queue's maxResource and usedResource strings carry.</summary>
public sealed record QueueResourcesDto(
    [property: JsonPropertyName("cpu")] string Cpu,
    [property: JsonPropertyName("memory")] string Memory,
    [property: JsonPropertyName("cu")] string Cu,
    [property: JsonPropertyName("gpu")] string Gpu);
