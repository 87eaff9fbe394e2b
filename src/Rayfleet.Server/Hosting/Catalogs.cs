using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Hosting;

/// <summary>One entry of the release catalogue: what a displayReleaseVersion runs.</summary>
public sealed record ReleaseVersion(
    string DisplayReleaseVersion, string RayVersion, string PythonVersion, string Image, string RayCommand,
    string State, string Type, bool IsDefault)
{
    /// <summary>Where this entry is configured (<c>Rayfleet:ReleaseVersions:1</c>), for messages that tell what to change.</summary>
    public string Setting { get; init; } = $"{RayfleetOptions.Section}:ReleaseVersions";
}

/// <summary>
/// The autoscaler process that a provider runs beside the head of an autoscaling cluster, registered by that provider.
/// A provider that registers none runs no autoscaler process (local and simulated hold a group within what admission
/// granted themselves), and its clusters' demand has nothing beside the head.
/// </summary>
public sealed record ProviderAutoscaler(string Provider, AutoscalerFootprint Footprint);

/// <summary>Release versions and GPU instance types, from configuration; each provider's autoscaler, from its registration.</summary>
public sealed class Catalogs
{
    private readonly Dictionary<string, AutoscalerFootprint> _autoscalers;

    public Catalogs(IOptions<RayfleetOptions> options, IEnumerable<ProviderAutoscaler>? autoscalers = null)
    {
        _autoscalers = (autoscalers ?? []).ToDictionary(a => a.Provider, a => a.Footprint, StringComparer.Ordinal);
        var o = options.Value;
        Releases = [.. o.ReleaseVersions.Select((r, i) => new ReleaseVersion(
            r.DisplayReleaseVersion, r.RayVersion, r.PythonVersion, r.Image, r.RayCommand, r.State, r.Type, r.IsDefault)
        {
            Setting = $"{RayfleetOptions.Section}:ReleaseVersions:{i}",
        })];
        DefaultRelease = Releases.FirstOrDefault(r => r.IsDefault) ?? Releases[0];
        GpuTypes = o.GpuTypes.ToDictionary(g => g.InstanceType, StringComparer.Ordinal);
    }

    public IReadOnlyList<ReleaseVersion> Releases { get; }
    public ReleaseVersion DefaultRelease { get; }
    public IReadOnlyDictionary<string, GpuTypeOptions> GpuTypes { get; }

    public ReleaseVersion? FindRelease(string display) =>
        Releases.FirstOrDefault(r => string.Equals(r.DisplayReleaseVersion, display, StringComparison.Ordinal));

    public int GpuPerNode(string? gpuSpec) =>
        gpuSpec is not null && GpuTypes.TryGetValue(gpuSpec, out var g) ? g.GpuCount : 0;

    /// <summary>What the autoscaler of an autoscaling cluster on <paramref name="provider"/> takes beside the head.</summary>
    public AutoscalerFootprint Autoscaler(string provider) =>
        _autoscalers.TryGetValue(provider, out var footprint) ? footprint : AutoscalerFootprint.None;

    /// <summary>
    /// The queue demand of a cluster on <paramref name="provider"/>: one computation for the API (capacity check, demand
    /// index) and for admission, counting what actually runs there.
    /// </summary>
    public QueueDemand Demand(ClusterSpec spec, string provider, IReadOnlyDictionary<string, int>? replicas = null) =>
        spec.Demand(GpuPerNode, replicas, Autoscaler(provider));
}

/// <summary>The workspace's queues, network services and volumes plus the catalogues, as the validator sees them.</summary>
public sealed class WorkspaceCatalog : IClusterCatalog
{
    private readonly Catalogs _catalogs;
    private readonly HashSet<string> _queues;
    private readonly HashSet<string> _networkServices;
    private readonly HashSet<string> _volumes;

    private WorkspaceCatalog(Catalogs catalogs, IReadOnlyList<QueueCapacity> queues, IEnumerable<string> networkServices, IEnumerable<string> volumes)
    {
        _catalogs = catalogs;
        Capacities = queues.ToDictionary(q => q.Name, StringComparer.Ordinal);
        _queues = new(queues.Select(q => q.Name), StringComparer.Ordinal);
        _networkServices = new(networkServices, StringComparer.Ordinal);
        _volumes = new(volumes, StringComparer.Ordinal);
    }

    public static async Task<WorkspaceCatalog> LoadAsync(RayfleetDbContext db, Catalogs catalogs, string workspaceId, CancellationToken ct)
    {
        var queues = await db.Queues.AsNoTracking().Where(q => q.WorkspaceId == workspaceId).Select(q => new QueueCapacity(q.Name, q.Cu, q.Gpu)).ToListAsync(ct);
        var networkServices = await db.NetworkServices.AsNoTracking().Where(n => n.WorkspaceId == workspaceId).Select(n => n.Name).ToListAsync(ct);
        var volumes = await db.Volumes.AsNoTracking().Where(v => v.WorkspaceId == workspaceId).Select(v => v.Id).ToListAsync(ct);
        return new WorkspaceCatalog(catalogs, queues, networkServices, volumes);
    }

    /// <summary>The workspace's queues and their capacities.</summary>
    public IReadOnlyDictionary<string, QueueCapacity> Capacities { get; }

    public string DefaultReleaseVersion => _catalogs.DefaultRelease.DisplayReleaseVersion;
    public bool ReleaseVersionExists(string displayReleaseVersion) => _catalogs.FindRelease(displayReleaseVersion) is not null;
    public int? GpuCount(string gpuSpec) => _catalogs.GpuTypes.TryGetValue(gpuSpec, out var g) ? g.GpuCount : null;
    public bool QueueExists(string queueName) => _queues.Contains(queueName);
    public bool NetworkServiceExists(string name) => _networkServices.Contains(name);
    public bool VolumeExists(string volumeId) => _volumes.Contains(volumeId);
}
