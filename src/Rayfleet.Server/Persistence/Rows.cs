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
/// A Ray cluster: desired state (spec, desired running, tombstone) written by the API, observed state written by the
/// reconciler. <see cref="Version"/> is the optimistic concurrency token; every save of a changed row bumps it.
/// </summary>
public sealed class ClusterRow
{
    public required string Id { get; set; }
    public required string WorkspaceId { get; set; }
    public required string Provider { get; set; }
    public required string Name { get; set; }
    public required string SpecJson { get; set; }
    public long Generation { get; set; }
    /// <summary>The spec the current instance runs (live fields kept in step with the spec); null while no instance exists.</summary>
    public string? RunSpecJson { get; set; }
    /// <summary>Worker count per group that queue admission granted; null while the cluster waits for admission.</summary>
    public string? AdmittedReplicasJson { get; set; }
    public bool DesiredRunning { get; set; }
    public bool Deleted { get; set; }
    public required string State { get; set; }
    public string? Message { get; set; }
    public string? InstanceId { get; set; }
    public bool Modified { get; set; }
    public long CreateTime { get; set; }
    public long? StartTime { get; set; }
    public long ModifiedTime { get; set; }
    /// <summary>When the cluster asked for admission; waiting clusters are admitted first-come first-served.</summary>
    public long QueuedAt { get; set; }
    public string NodesJson { get; set; } = "[]";
    public string? DashboardUrl { get; set; }
    public string? JobUrl { get; set; }
    public string? JobUrlInner { get; set; }
    public string? GrpcEndpoint { get; set; }
    public required string SubmitToken { get; set; }
    /// <summary>Principal that created the cluster, and the one that changed its spec or run state last.</summary>
    public string? Creator { get; set; }
    public string? Modifier { get; set; }
    public long Version { get; set; }
}

/// <summary>
/// Resources a cluster holds in one queue (granted), or asks for while it waits (not granted yet; ordered by
/// <see cref="QueuedAt"/> for first-come first-served admission). Integers (milli-CU) so that sums run in the database.
/// </summary>
public sealed class ReservationRow
{
    public bool Granted { get; set; }
    public long QueuedAt { get; set; }
    public required string ClusterId { get; set; }
    public required string WorkspaceId { get; set; }
    public required string QueueName { get; set; }
    public long MilliCpu { get; set; }
    public long MemoryBytes { get; set; }
    public long MilliCu { get; set; }
    public int Gpu { get; set; }
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
