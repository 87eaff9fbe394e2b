using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Persistence;

// Rows map by hand to contracts. Times are Unix epoch milliseconds; lists and nested shapes are JSON text so that the
// schema is the same on SQLite and PostgreSQL.

public sealed class WorkspaceRow
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    public required string Provider { get; set; }
    public string? RegionId { get; set; }
    public string? ResourceSpec { get; set; }
    /// <summary>The CreateWorkspace fields Rayfleet stores but does not act on (payment, DLF, tags...), as JSON.</summary>
    public string AttributesJson { get; set; } = "{}";
    public long CreateTime { get; set; }
}

public sealed class QueueRow
{
    public required string WorkspaceId { get; set; }
    public required string Name { get; set; }
    public decimal Cu { get; set; }
    public int Gpu { get; set; }
    public decimal? MaxCu { get; set; }
    public int? GpuMachineNum { get; set; }
    public string? Description { get; set; }
    public string? Category { get; set; }
    public string? PaymentType { get; set; }
    public bool Preheat { get; set; }
    public string? InstanceId { get; set; }
    public string GpuSpecJson { get; set; } = "[]";
    public string EnvironmentsJson { get; set; } = "[]";
    public long CreateTime { get; set; }
}

public sealed class NetworkServiceRow
{
    public required string Id { get; set; }
    public required string WorkspaceId { get; set; }
    public required string Name { get; set; }
    public string? Type { get; set; }
    public string? VpcId { get; set; }
    public string VswitchIdsJson { get; set; } = "[]";
    public string? SecurityGroupId { get; set; }
    public long CreateTime { get; set; }
}

public sealed class VolumeRow
{
    public required string Id { get; set; }
    public required string WorkspaceId { get; set; }
    public required string Name { get; set; }
    public required string Kind { get; set; }
    public required string Source { get; set; }
    public required string MountPath { get; set; }
    public long CreateTime { get; set; }
}

/// <summary>
/// A Ray cluster, in two halves as KubeRay keeps spec and status apart. The API writes only the desired half (spec,
/// <see cref="Generation"/>, desired running, the instance a Start asks for, tombstone, request times); only the
/// reconciler writes the observed half (state, message, nodes, endpoints, the spec the instance runs, what admission
/// granted), with <see cref="ObservedGeneration"/> saying which generation that status reflects. <see cref="Version"/>
/// is the optimistic concurrency token; every save of a changed row bumps it.
/// </summary>
public sealed class ClusterRow
{
    // Desired, written by the API.
    public required string Id { get; set; }
    public required string WorkspaceId { get; set; }
    public required string Provider { get; set; }
    public required string Name { get; set; }
    public required string SpecJson { get; set; }
    /// <summary>The spec as a List item shows it (<see cref="ClusterSpec.ForListing"/>): List reads this, never the whole spec.</summary>
    public required string ListSpecJson { get; set; }
    /// <summary>Bumped by every accepted change of desired state: spec, Start, Stop, Delete.</summary>
    public long Generation { get; set; }
    public bool DesiredRunning { get; set; }
    public bool Deleted { get; set; }
    /// <summary>The instance the cluster should run: a new one for every Create and Start.</summary>
    public string? InstanceId { get; set; }
    public long CreateTime { get; set; }
    public long? StartTime { get; set; }
    public long ModifiedTime { get; set; }
    /// <summary>When the cluster asked for admission; waiting clusters are admitted first-come first-served.</summary>
    public long QueuedAt { get; set; }
    public required string SubmitToken { get; set; }
    /// <summary>Principal that created the cluster, and the one that changed its spec or run state last.</summary>
    public string? Creator { get; set; }
    public string? Modifier { get; set; }

    // Observed, written by the reconciler.
    /// <summary>The <see cref="Generation"/> the observed fields reflect; behind it, a change is accepted but not acted on yet.</summary>
    public long ObservedGeneration { get; set; }
    /// <summary>The instance the observed fields describe.</summary>
    public string? ObservedInstanceId { get; set; }
    /// <summary>Null until the reconciler first looked at the cluster.</summary>
    public string? State { get; set; }
    public string? Message { get; set; }
    /// <summary>The spec the current instance runs (live fields kept in step with the spec); null while no instance exists.</summary>
    public string? RunSpecJson { get; set; }
    /// <summary>Worker count per group that queue admission granted; null while the cluster waits for admission.</summary>
    public string? AdmittedReplicasJson { get; set; }
    public bool Modified { get; set; }
    public string NodesJson { get; set; } = "[]";
    public string? DashboardUrl { get; set; }
    public string? JobUrl { get; set; }
    public string? JobUrlInner { get; set; }
    public string? GrpcEndpoint { get; set; }
    /// <summary>CU- and GPU-milliseconds the cluster's nodes ran, up to <see cref="UsageObservedAt"/> (Core's UsageMeter).</summary>
    public decimal UsageCuMs { get; set; }
    public decimal UsageGpuMs { get; set; }
    /// <summary>When the nodes in <see cref="NodesJson"/> were observed; the next observation charges them up to its own time.</summary>
    public long? UsageObservedAt { get; set; }
    /// <summary>
    /// CU- and GPU-milliseconds per millisecond of the nodes in <see cref="NodesJson"/> that run: what a List adds to
    /// the charge for the time since <see cref="UsageObservedAt"/>. Null for a row observed before it was stored.
    /// </summary>
    public decimal? UsageCuRate { get; set; }
    public decimal? UsageGpuRate { get; set; }
    /// <summary>Idle stop: the last time Ray reported a running job or a connected driver (or the instance started).</summary>
    public long? LastBusyAt { get; set; }

    // Desired, written by the API (and by the reconciler when it stops or deletes on a user's standing request).
    /// <summary>The job a job-mode cluster was created for; null for a cluster created with CreateRayCluster.</summary>
    public string? JobId { get; set; }
    /// <summary>Why the reconciler stopped the cluster on its own (idle stop); shown as the Stopped cluster's message.</summary>
    public string? StopReason { get; set; }

    public long Version { get; set; }

    /// <summary>Sets the desired spec and what is derived from it for reads.</summary>
    public void SetSpec(ClusterSpec spec)
    {
        SpecJson = spec.ToJson();
        ListSpecJson = spec.ForListing().ToJson();
        Name = spec.Name;
    }
}

/// <summary>An amount of one queue's resources on behalf of a cluster; integers (milli-CU) so that sums run in the database.</summary>
public abstract class QueueAmountRow
{
    public string ClusterId { get; set; } = "";
    public string WorkspaceId { get; set; } = "";
    public string QueueName { get; set; } = "";
    public long MilliCpu { get; set; }
    public long MemoryBytes { get; set; }
    public long MilliCu { get; set; }
    public int Gpu { get; set; }
}

/// <summary>
/// What a cluster's desired spec asks of one queue at its initial size: an index of the spec that the API writes with
/// it, so that queue admission can sum the demand of everyone waiting ahead in SQL. Not a reservation.
/// </summary>
public sealed class ClusterDemandRow : QueueAmountRow;

/// <summary>Resources queue admission granted a cluster in one queue; written by the reconciler only.</summary>
public sealed class ReservationRow : QueueAmountRow;

/// <summary>
/// A Ray job. As for clusters, the API writes the desired half (the request, the cluster it runs on, cancel) and only
/// the reconciler writes the observed half (status, times, usage, what Ray said). The job stays after its cluster is
/// gone, with its logs.
/// </summary>
public sealed class JobRow
{
    // Desired, written by the API.
    public required string Id { get; set; }
    public required string WorkspaceId { get; set; }
    public required string Provider { get; set; }
    public required string Name { get; set; }
    /// <summary>The SubmitRayJob request as accepted (no clientToken), echoed by GetRayJob.</summary>
    public required string SpecJson { get; set; }
    /// <summary>The cluster the job runs on: its own job-mode cluster, or the existing one it was sent to.</summary>
    public required string ClusterId { get; set; }
    public bool OwnsCluster { get; set; }
    /// <summary>The queue of the cluster's head, shown as <c>resourceQueue</c>.</summary>
    public string? QueueName { get; set; }
    public long SubmitTime { get; set; }
    /// <summary><c>activeDeadlineSeconds</c> after submission, epoch ms; null without a deadline.</summary>
    public long? DeadlineAt { get; set; }
    public bool CancelRequested { get; set; }
    public string? Creator { get; set; }
    public long Generation { get; set; }

    // Observed, written by the reconciler; a new job starts as accepted, its cluster not yet asked for.
    public string Status { get; set; } = Core.Jobs.JobStatus.Submitted;
    public string? Message { get; set; }
    public string ClusterState { get; set; } = Core.Jobs.JobClusterState.Submitted;
    /// <summary>Ray has the submission (its answer to the submit was success or "already exists").</summary>
    public bool RaySubmitted { get; set; }
    public long? StartTime { get; set; }
    public long? EndTime { get; set; }
    /// <summary>The cluster's usage meter when the job started (a job on a shared cluster is charged the difference).</summary>
    public decimal? UsageCuMsAtStart { get; set; }
    public decimal? UsageGpuMsAtStart { get; set; }
    public decimal UsageCuMs { get; set; }
    public decimal UsageGpuMs { get; set; }
    public string? GpuSpec { get; set; }
    public string? DashboardUrl { get; set; }
    /// <summary>Bytes of the driver log copied so far; the copy is refreshed while the job runs.</summary>
    public long DriverLogBytes { get; set; }
    public long ObservedGeneration { get; set; }

    public long Version { get; set; }
}

public sealed class IdempotencyRow
{
    /// <summary>Action, scope and client token.</summary>
    public required string Key { get; set; }
    public required string RequestHash { get; set; }
    public int StatusCode { get; set; }
    public required string ResponseJson { get; set; }
    public long CreateTime { get; set; }
}

/// <summary>
/// How many live (not tombstoned) clusters and how many jobs a workspace holds: the totals of ListRayCluster and an
/// unfiltered ListRayJob, read as one row instead of counted row by row per call. The database keeps it: triggers on
/// <c>clusters</c> and <c>ray_jobs</c> (migration <c>ListTotals</c>) change it in the statement that inserts, tombstones,
/// revives or removes a row, so it is exact in every transaction, whichever code path writes the rows.
/// </summary>
public sealed class WorkspaceTotalsRow
{
    public required string WorkspaceId { get; set; }
    public long LiveClusters { get; set; }
    public long Jobs { get; set; }
}
