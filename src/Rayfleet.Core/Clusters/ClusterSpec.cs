using System.Collections.Immutable;
using System.Text.Json;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

public sealed record GftSettings(string? RedisUrl, string? RedisUsername, string? RedisPassword);

public sealed record HeadGroupSpec
{
    public required string Cpu { get; init; }
    public required string Memory { get; init; }
    public required string QueueName { get; init; }
    public bool EnableAutoScaling { get; init; }
    public int IdleTimeoutSeconds { get; init; } = ClusterRules.DefaultIdleTimeoutSeconds;
    public string? GpuSpec { get; init; }
    public string? DisplayReleaseVersion { get; init; }
    public string? Env { get; init; }
    public string? RayStartParams { get; init; }
    public bool? GftEnabled { get; init; }
    /// <summary>The password here is whatever the store keeps (the server encrypts it before persisting).</summary>
    public GftSettings? GftConfig { get; init; }
}

public sealed record WorkerGroupSpec
{
    public required string GroupName { get; init; }
    public string WorkerType { get; init; } = "CPU";
    public int Replica { get; init; } = 1;
    public int MinReplica { get; init; } = 1;
    public int MaxReplica { get; init; } = 1;
    public required string Cpu { get; init; }
    public required string Memory { get; init; }
    public required string QueueName { get; init; }
    public string? GpuSpec { get; init; }
    public string? DisplayReleaseVersion { get; init; }
    public string? Env { get; init; }
    public string? RayStartParams { get; init; }
}

/// <summary>
/// Desired state of a Ray cluster as the client sent it (values echo the request). Immutable; lists are immutable too,
/// and equality of whole specs goes through <see cref="ToJson"/> because list equality is by reference.
/// </summary>
public sealed record ClusterSpec
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required string DisplayReleaseVersion { get; init; }
    public string? NetworkServiceName { get; init; }
    public string? ExtraParam { get; init; }
    public required HeadGroupSpec Head { get; init; }
    public ImmutableList<WorkerGroupSpec> Workers { get; init; } = [];
    public ImmutableList<string> VolumeIds { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, WireJson.Default.ClusterSpec);

    public static ClusterSpec FromJson(string json) =>
        JsonSerializer.Deserialize(json, WireJson.Default.ClusterSpec) ?? throw new InvalidDataException("Empty cluster spec.");

    /// <summary>The spec with every field that a running cluster picks up at once replaced from <paramref name="source"/>.</summary>
    public ClusterSpec WithLiveFieldsFrom(ClusterSpec source)
    {
        // In the source's order, so that reordering groups alone is no change; groups that exist only in the source
        // need new nodes of a new shape and wait for the next start, groups missing from it are dropped now.
        var workers = source.Workers
            .Select(s => Workers.FirstOrDefault(w => ClusterRules.SameGroup(s.GroupName, w.GroupName)) is { } w
                ? w with { Replica = s.Replica, MinReplica = s.MinReplica, MaxReplica = s.MaxReplica }
                : null)
            .Where(w => w is not null)
            .Select(w => w!)
            .ToImmutableList();
        return this with
        {
            Name = source.Name,
            Description = source.Description,
            Head = Head with
            {
                EnableAutoScaling = source.Head.EnableAutoScaling,
                IdleTimeoutSeconds = source.Head.IdleTimeoutSeconds,
            },
            Workers = workers,
        };
    }

    /// <summary>
    /// What a ListRayCluster item shows of the spec: without env, rayStartParams, extraParam, GCS fault tolerance and
    /// volumes, which can make a spec a megabyte and which a List item does not carry.
    /// </summary>
    public ClusterSpec ForListing() => this with
    {
        ExtraParam = null,
        Head = Head with { Env = null, RayStartParams = null, GftConfig = null },
        Workers = [.. Workers.Select(w => w with { Env = null, RayStartParams = null })],
        VolumeIds = [],
    };

    /// <summary>True when the two specs differ in anything that needs new nodes (a restart) to take effect.</summary>
    public bool NeedsRestartToMatch(ClusterSpec target) => WithLiveFieldsFrom(target).ToJson() != target.ToJson();

    /// <summary>Worker count each group is asked to run: replica, clamped to [min, max] with autoscaling on.</summary>
    public int TargetReplicas(WorkerGroupSpec group) =>
        Head.EnableAutoScaling ? Math.Clamp(group.Replica, group.MinReplica, Math.Max(group.MinReplica, group.MaxReplica)) : group.Replica;

    /// <summary>
    /// The queue demand of the cluster (semantics.md): head plus each group at replica, or at minReplica with
    /// autoscaling on. <paramref name="gpuPerNode"/> resolves a gpuSpec to its GPU count. With autoscaling on, the
    /// head node also holds the provider's <paramref name="autoscaler"/> process, counted with the head as one node.
    /// </summary>
    public QueueDemand Demand(
        Func<string?, int> gpuPerNode, IReadOnlyDictionary<string, int>? replicasOverride = null, AutoscalerFootprint? autoscaler = null)
    {
        var demand = new QueueDemand();
        var sidecar = Head.EnableAutoScaling ? autoscaler ?? AutoscalerFootprint.None : AutoscalerFootprint.None;
        // One node: CU is max(cores, GiB / 4) of head and autoscaler together, not the sum of two such maxima.
        demand.Add(Head.QueueName, Resources.ForNodes(
            (Quantity.ParseCpuMillis(Head.Cpu) ?? 0) + sidecar.MilliCpu,
            (Quantity.ParseMemoryBytes(Head.Memory) ?? 0) + sidecar.MemoryBytes,
            gpuPerNode(Head.GpuSpec), 1));
        foreach (var group in Workers)
        {
            var count = replicasOverride is not null && replicasOverride.TryGetValue(group.GroupName, out var n)
                ? n
                : Head.EnableAutoScaling ? group.MinReplica : group.Replica;
            demand.Add(group.QueueName, NodeResources(group.Cpu, group.Memory, gpuPerNode(group.GpuSpec), count));
        }
        return demand;
    }

    public static Resources NodeResources(string cpu, string memory, int gpu, int count) =>
        Resources.ForNodes(Quantity.ParseCpuMillis(cpu) ?? 0, Quantity.ParseMemoryBytes(memory) ?? 0, gpu, count);
}
