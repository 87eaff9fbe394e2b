using System.Text.Json.Serialization;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Contracts;

/// <summary>
/// Source-generated serialization of the wire contracts and of the shapes the store keeps as JSON, with the default
/// options (names come from the contracts' attributes): no reflection and no emitted code at run time.
/// </summary>
/// <remarks>A test checks that every contract type of this namespace is listed here.</remarks>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Default)]
// Errors
[JsonSerializable(typeof(ErrorBody))]
// Ray clusters
[JsonSerializable(typeof(RayClusterRequest))]
[JsonSerializable(typeof(CreateRayClusterResponse))]
[JsonSerializable(typeof(RequestIdResponse))]
[JsonSerializable(typeof(CapitalRequestIdResponse))]
[JsonSerializable(typeof(StartRayClusterRequest))]
[JsonSerializable(typeof(StopRayClusterRequest))]
[JsonSerializable(typeof(GetRayClusterResponse))]
[JsonSerializable(typeof(ListRayClusterResponse))]
[JsonSerializable(typeof(RayClusterSummaryDto))]
[JsonSerializable(typeof(ListWorkerSpecDto), TypeInfoPropertyName = "WorkerSpecSummary")]
[JsonSerializable(typeof(ListHeadSpecDto), TypeInfoPropertyName = "HeadSpecSummary")]
[JsonSerializable(typeof(List<RayNodeDto>))]
// Ray jobs and logs
[JsonSerializable(typeof(SubmitRayJobRequest))]
[JsonSerializable(typeof(SubmitRayJobResponse))]
[JsonSerializable(typeof(CancelRayJobResponse))]
[JsonSerializable(typeof(GetRayJobResponse))]
[JsonSerializable(typeof(ListRayJobResponse))]
[JsonSerializable(typeof(RayJobSummaryDto))]
[JsonSerializable(typeof(SubmitTimeRangeDto))]
[JsonSerializable(typeof(GetRayLogResponse))]
[JsonSerializable(typeof(ListRayLogsResponse))]
// Workspaces, queues, network services, volumes, catalogs
[JsonSerializable(typeof(CreateWorkspaceRequest))]
[JsonSerializable(typeof(CreateWorkspaceResponse))]
[JsonSerializable(typeof(UpdateWorkspaceRequest))]
[JsonSerializable(typeof(UpdateWorkspaceResponse))]
[JsonSerializable(typeof(ListWorkspacesResponse))]
[JsonSerializable(typeof(GetWorkspaceResponse))]
[JsonSerializable(typeof(WorkspaceQueueRequest))]
[JsonSerializable(typeof(ListWorkspaceQueuesResponse))]
[JsonSerializable(typeof(CreateNetworkServiceRequest))]
[JsonSerializable(typeof(CreateNetworkServiceResponse))]
[JsonSerializable(typeof(ListNetworkServicesResponse))]
[JsonSerializable(typeof(CreateVolumeRequest))]
[JsonSerializable(typeof(CreateVolumeResponse))]
[JsonSerializable(typeof(ListVolumesResponse))]
[JsonSerializable(typeof(ListReleaseVersionsResponse))]
[JsonSerializable(typeof(ListGpuSpecsResponse))]
[JsonSerializable(typeof(QueueResourcesDto))]
// Principals, access keys, members, audit
[JsonSerializable(typeof(CreatePrincipalRequest))]
[JsonSerializable(typeof(CreatePrincipalResponse))]
[JsonSerializable(typeof(ListPrincipalsResponse))]
[JsonSerializable(typeof(CreateAccessKeyResponse))]
[JsonSerializable(typeof(ListAccessKeysResponse))]
[JsonSerializable(typeof(AddMemberRequest))]
[JsonSerializable(typeof(ListMembersResponse))]
[JsonSerializable(typeof(ListAuditEventsResponse))]
// Stored shapes
[JsonSerializable(typeof(ClusterSpec))]
[JsonSerializable(typeof(Dictionary<string, Resources>))]
[JsonSerializable(typeof(Dictionary<string, int>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, int>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
public sealed partial class WireJson : JsonSerializerContext;
