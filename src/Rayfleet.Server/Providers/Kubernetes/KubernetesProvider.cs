using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Microsoft.Extensions.Options;
using Polly;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Runs each cluster as a KubeRay <c>RayCluster</c> (ray.io/v1) named by the cluster id in its workspace's namespace.
///
/// Instance ids map to resources through the <c>rayfleet.io/instance-id</c> label: the RayCluster carries the label of
/// the instance it runs, and so do the pods KubeRay makes from its templates. Stop suspends the RayCluster and keeps
/// it; Start applies it again under the new instance's label with <c>suspend: false</c>, or, when the new instance
/// needs other pods (image, resources, env, parameters... see <see cref="RayClusterManifest.PodShapeHash"/>) or the old
/// one still runs, deletes it and creates it anew. <see cref="ListInstancesAsync"/> reports the instance label of every
/// RayCluster Rayfleet made, suspended ones too, so a deleted cluster's RayCluster is an orphan the resync removes;
/// <see cref="RemoveAsync"/> deletes the RayCluster that carries the instance (foreground), then, once it is gone, the
/// Redis Secret labelled with the instance, and is true only once both and its pods are gone. A job-mode cluster is a
/// RayJob instead (KubernetesProvider.Jobs.cs).
///
/// One file per job: .Apply (build and write), .Observe (status and events), .Remove (stop, remove, list),
/// .Resources (the API calls they share), .Jobs (RayJobs).
/// </summary>
public sealed partial class KubernetesProvider : IClusterProvider, IClusterChangeSource, IAsyncDisposable
{
    private const string Group = KubernetesWatchCache.Group;
    private const string Version = KubernetesWatchCache.Version;
    private const string Plural = KubernetesWatchCache.Plural;
    private const string AppliedHash = "rayfleet.io/applied-hash";

    private readonly IKubernetes _client;
    private readonly KubernetesProviderOptions _options;
    private readonly ILogger _logger;
    private readonly HashSet<string> _readyNamespaces = new(StringComparer.Ordinal);
    private readonly Lock _namespacesLock = new();
    // One gate per cluster, not striped: a stalled API call must hold up only its own cluster's passes.
    private readonly KeyedGates _gates = new();
    private readonly ResiliencePipeline _conflicts;

    public KubernetesProvider(
        IKubernetes client, IOptions<KubernetesProviderOptions> options, TimeProvider time, ILogger<KubernetesProvider> logger)
    {
        _client = client;
        _options = options.Value;
        _logger = logger;
        Calls = new KubernetesCalls(_options, time, logger);
        _conflicts = Calls.Retry.Conflicts();
        Cache = new KubernetesWatchCache(client, _options, Calls, time, logger);
        if (_options.WatchAllNamespaces) Cache.EnsureWatching(null);
        else
            foreach (var ns in _options.Namespaces.Values.Distinct(StringComparer.Ordinal)) Cache.EnsureWatching(ns);
    }

    public string Name => ProviderNames.Kubernetes;

    public KubernetesWatchCache Cache { get; }

    public KubernetesCalls Calls { get; }

    public void Subscribe(Action<string> clusterChanged) => Cache.Subscribe(clusterChanged);

    public string NamespaceFor(string workspaceId) =>
        _options.Namespaces.TryGetValue(workspaceId, out var ns) ? ns : _options.NamespacePattern.Replace("{workspaceId}", workspaceId, StringComparison.Ordinal);

    public async Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(request.ClusterId, cancellationToken))
        {
            return request.Job is null ? await ApplyCoreAsync(request, cancellationToken) : await ApplyJobCoreAsync(request, cancellationToken);
        }
    }

    private static (string Namespace, string Name) NameOf(JsonObject o) =>
        (o["metadata"]?["namespace"]?.GetValue<string>() ?? "", o["metadata"]?["name"]?.GetValue<string>() ?? "");

    private static string? Label(JsonObject o, string key) => o["metadata"]?["labels"]?[key]?.GetValue<string>();

    private static string? Annotation(JsonObject o, string key) => o["metadata"]?["annotations"]?[key]?.GetValue<string>();

    private static JsonObject? ToObject(object? body) => body switch
    {
        JsonElement e when e.ValueKind == JsonValueKind.Object => JsonNode.Parse(e.GetRawText()) as JsonObject,
        JsonObject o => o,
        _ => null,
    };

    public ValueTask DisposeAsync()
    {
        _gates.Dispose();
        DisposeJobs();
        return Cache.DisposeAsync();
    }
}
