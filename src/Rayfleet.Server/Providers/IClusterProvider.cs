using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers;

/// <summary>
/// The narrow port between the reconciler and whatever runs Ray nodes. Every call is idempotent and keyed by the
/// cluster instance id, so a reconciler that crashed half-way can repeat any call. Providers never touch the store.
/// </summary>
public interface IClusterProvider
{
    string Name { get; }

    /// <summary>Brings the instance towards the spec with exactly the given worker counts, then reports what runs.</summary>
    Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken);

    /// <summary>Stops and removes every node of the instance; true once nothing of it is left.</summary>
    Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken);

    /// <summary>
    /// Stops every node of the instance for a Stop of its cluster; true once no node runs. A provider may keep what a
    /// later Start of the same cluster can reuse (Kubernetes keeps a suspended RayCluster); Delete and orphan clean-up
    /// still go through <see cref="RemoveAsync"/>. Without an override a stop removes everything.
    /// </summary>
    Task<bool> StopAsync(string instanceId, CancellationToken cancellationToken) => RemoveAsync(instanceId, cancellationToken);

    /// <summary>Every instance the provider holds resources for, whoever owns it; only one cluster's when it is named.</summary>
    Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken);

    /// <summary>
    /// Ray's Job Submission API on the instance's head, as this provider reaches it; null while the instance has no
    /// head to talk to (not applied yet, or gone).
    /// </summary>
    Task<IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken);

    /// <summary>
    /// Copies the logs of the instance's nodes into <paramref name="sink"/>, one entry per node log file, before the
    /// nodes go away (a job-mode cluster's logs outlive it). Safe to repeat: a later copy replaces an earlier one.
    /// </summary>
    Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken);
}

/// <summary>Where a provider writes the node logs it collects; names are relative paths such as <c>head/raylet.out</c>.</summary>
public interface INodeLogSink
{
    Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken);
}

/// <summary>
/// Everything a provider needs for one apply, resolved by the reconciler: the spec, the granted worker counts, and
/// what the spec only names (release versions, GPU types, volumes, the network service, the stored Redis password).
/// A provider depends on this and its own options, never on the catalogues, the store or the API.
/// </summary>
public sealed record ProviderClusterRequest(
    string WorkspaceId,
    string ClusterId,
    string InstanceId,
    ClusterSpec Spec,
    IReadOnlyDictionary<string, int> Replicas,
    ReleaseVersion Release)
{
    /// <summary>The spec's <c>volumeIds</c>, resolved from the store in the spec's order.</summary>
    public IReadOnlyList<ProviderVolume> Volumes { get; init; } = [];

    /// <summary>The spec's <c>networkServiceName</c>, resolved from the store; null when the spec names none.</summary>
    public ProviderNetworkService? NetworkService { get; init; }

    /// <summary>The head's release version and GPU type, resolved from the catalogues.</summary>
    public required ProviderNodeGroup Head { get; init; }

    /// <summary>Each worker group's release version and GPU type, by group name.</summary>
    public required IReadOnlyDictionary<string, ProviderNodeGroup> Groups { get; init; }

    /// <summary>
    /// The Redis password of GCS fault tolerance, decrypted from the spec; null when fault tolerance is off or has no
    /// password.
    /// </summary>
    public ProviderSecret? RedisPassword { get; init; }

    /// <summary>
    /// Set only for the cluster a job was submitted without a <c>clusterId</c> (a job-mode cluster): the job it exists
    /// for. Most providers run such a cluster as any other and the job goes through <see cref="IClusterProvider.JobApiAsync"/>;
    /// Kubernetes makes it a KubeRay RayJob that carries the job.
    /// </summary>
    public ProviderJob? Job { get; init; }

    /// <summary>The head's (a null group) or a worker group's resolved nodes.</summary>
    public ProviderNodeGroup NodesOf(string? groupName) =>
        groupName is null ? Head
        : Groups.TryGetValue(groupName, out var group) ? group
        : throw new InvalidOperationException($"The request resolves no worker group named '{groupName}'.");
}

/// <summary>The job of a job-mode cluster, with the lifetimes a KubeRay RayJob carries.</summary>
public sealed record ProviderJob(
    RayJobSubmission Submission,
    string SubmissionMode,
    bool ShutdownAfterJobFinishes,
    int? TtlSecondsAfterFinished,
    int? ActiveDeadlineSeconds);

/// <summary>
/// What the catalogues say about the nodes of the head or of one worker group: the release they run (their own
/// <c>displayReleaseVersion</c>'s when the catalogue lists it, else the cluster's) and their GPU type, if any.
/// </summary>
public sealed record ProviderNodeGroup(ReleaseVersion Release, ProviderGpuType? Gpu)
{
    public int GpusPerNode => Gpu?.GpusPerNode ?? 0;
}

/// <summary>A GPU instance type from the catalogue: GPUs per node and the node labels that select such nodes.</summary>
public sealed record ProviderGpuType(string InstanceType, int GpusPerNode, IReadOnlyDictionary<string, string> NodeLabels);

/// <summary>
/// A secret the reconciler decrypted for a provider. Its text comes out only through <see cref="Reveal"/>: not in
/// <see cref="ToString"/>, so not in a logged or printed request record, and not in JSON.
/// </summary>
public sealed class ProviderSecret
{
    private readonly string? _text;

    private ProviderSecret(string? text) => _text = text;

    public static ProviderSecret Of(string text) => new(text);

    /// <summary>The stored secret could not be decrypted: the Data Protection key that encrypted it is gone.</summary>
    public static ProviderSecret Unreadable { get; } = new(null);

    public bool IsReadable => _text is not null;

    public string Reveal() => _text ?? throw new InvalidOperationException("The secret could not be decrypted.");

    public override string ToString() => IsReadable ? "(secret)" : "(unreadable secret)";
}

/// <summary>A volume to mount on every node: <c>pvc</c> (source is the claim name) or <c>hostPath</c> (source is the path).</summary>
public sealed record ProviderVolume(string VolumeId, string Name, string Kind, string Source, string MountPath);

/// <summary>A network service as the store keeps it; providers turn it into whatever placement they support.</summary>
public sealed record ProviderNetworkService(
    string NetworkServiceId, string Name, string? VpcId, IReadOnlyList<string> VswitchIds, string? SecurityGroupId);

/// <summary>
/// Implemented by providers that learn of changes on their own (a Kubernetes watch): the reconciler subscribes, and
/// the provider calls back with the cluster id whenever something worth a pass happened, instead of being polled.
/// </summary>
public interface IClusterChangeSource
{
    void Subscribe(Action<string> clusterChanged);
}

public enum ObservedPhase
{
    Pending,
    Ready,
    Failed,
}

/// <summary>The same observed shape whatever the provider runs on.</summary>
public sealed record ProviderObservation
{
    public required ObservedPhase Phase { get; init; }
    public string? Message { get; init; }
    public required IReadOnlyList<ObservedNode> Nodes { get; init; }
    public ClusterEndpoints Endpoints { get; init; } = ClusterEndpoints.None;
    /// <summary>With autoscaling on: how many workers each group's autoscaler wants; admission decides how many it gets.</summary>
    public IReadOnlyDictionary<string, int> WantedReplicas { get; init; } = new Dictionary<string, int>();
    /// <summary>When the provider expects the next change worth observing.</summary>
    public TimeSpan? RequeueAfter { get; init; }
}

public sealed record ObservedNode
{
    public required string NodeId { get; init; }
    /// <summary><c>Head</c> or <c>Worker</c>.</summary>
    public required string Type { get; init; }
    public string? GroupName { get; init; }
    /// <summary>Pod-phase words: Pending, Running, Succeeded, Failed, Unknown.</summary>
    public required string Phase { get; init; }
    public string Message { get; init; } = "";
    public string Reason { get; init; } = "";
    public string ContainerState { get; init; } = "";
    public string ContainerStateReason { get; init; } = "";
    public string ContainerStateMessage { get; init; } = "";
    public int ExitCode { get; init; }
    public long CreateTime { get; init; }
    public long? StartTime { get; init; }
}

public sealed record ClusterEndpoints(string? DashboardUrl, string? JobUrl, string? JobUrlInner, string? GrpcEndpoint)
{
    public static readonly ClusterEndpoints None = new(null, null, null, null);
}

public interface IProviderRegistry
{
    IClusterProvider Get(string name);
    IEnumerable<IClusterProvider> All { get; }
}

public sealed class ProviderRegistry(IEnumerable<IClusterProvider> providers) : IProviderRegistry
{
    private readonly Dictionary<string, IClusterProvider> _byName = providers.ToDictionary(p => p.Name, StringComparer.Ordinal);

    public IClusterProvider Get(string name) =>
        _byName.TryGetValue(name, out var p) ? p : throw new InvalidOperationException($"No provider named '{name}' is registered.");

    public IEnumerable<IClusterProvider> All => _byName.Values;
}
