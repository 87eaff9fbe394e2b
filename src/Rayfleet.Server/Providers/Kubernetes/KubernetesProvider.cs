using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
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

    private async Task<ProviderObservation> ApplyCoreAsync(ProviderClusterRequest request, CancellationToken ct)
    {
        var ns = NamespaceFor(request.WorkspaceId);
        var name = RayClusterManifest.Name(request.ClusterId);
        await EnsureNamespaceAsync(ns, request.WorkspaceId, ct);
        var live = await CurrentAsync(ns, name, ct);
        var endpoints = Endpoints(ns, request.ClusterId);

        if (request.RedisPassword is { IsReadable: false })
        {
            return Failed("The Redis password of gftConfig cannot be decrypted (the Data Protection key that encrypted it is gone). Update gftConfig.redisPassword and start the cluster again.", endpoints);
        }
        var password = request.RedisPassword?.Reveal();

        var attempt = 0;
        return await _conflicts.ExecuteAsync(async token =>
        {
            if (++attempt > 1)
            {
                // Someone wrote the RayCluster between our read and our apply: read it again and rebuild.
                LogConflict(_logger, request.ClusterId, attempt - 1);
                live = await GetRayClusterAsync(ns, name, token);
            }
            return await ApplyOnceAsync(request, ns, name, live, password, endpoints, token);
        }, ct);
    }

    /// <summary>One read-build-apply of a RayCluster; a 409 from the apply sends <see cref="ApplyCoreAsync"/> round again.</summary>
    private async Task<ProviderObservation> ApplyOnceAsync(
        ProviderClusterRequest request, string ns, string name, JsonObject? live, string? password, ClusterEndpoints endpoints, CancellationToken ct)
    {
        var liveInstance = live is null ? null : Label(live, RayfleetLabels.Instance);
        if (live is not null && live["metadata"]?["deletionTimestamp"] is not null)
            return Waiting(liveInstance == request.InstanceId
                ? "The RayCluster is being deleted from outside Rayfleet; it is created again once it is gone."
                : $"Waiting for the RayCluster of the previous instance ({liveInstance}) to be deleted.", endpoints);

        var sameInstance = live is not null && liveInstance == request.InstanceId;
        var replicas = DesiredReplicas(request, sameInstance ? live : null);
        // Under Kueue the queue decides when a RayCluster runs: its webhook suspends a new one until admitted.
        var suspend = _options.KueueQueueLabel ? (bool?)null : false;
        var manifest = RayClusterManifest.Build(new RayClusterManifestInput(request, ns, suspend, replicas), _options);
        var problems = KubeRayChecks.Check(manifest);
        if (problems.Count > 0)
            return Failed("KubeRay would refuse this cluster: " + string.Join(" ", problems), endpoints);

        if (live is not null && !sameInstance)
        {
            // A Start: reuse the suspended RayCluster when its pods would look the same; otherwise make it anew.
            // Under Kueue a Start always makes a new RayCluster, which Kueue admits afresh.
            var parked = live["spec"]?["suspend"]?.GetValue<bool>() == true && !_options.KueueQueueLabel
                         // The pod watch may lag the Stop that saw them gone: ask the API server before recreating.
                         && (Cache.Pods(ns, name, liveInstance).Count == 0 || !await PodsRemainAsync(liveInstance!, ct));
            var sameShape = Annotation(live, RayfleetLabels.PodShape) == Annotation(manifest, RayfleetLabels.PodShape);
            if (!parked || !sameShape)
            {
                await DeleteRayClusterAsync(live, ct);
                return Waiting(sameShape
                    ? $"Replacing the RayCluster of the previous instance ({liveInstance}), whose pods still run, with fresh ones."
                    : "Recreating the RayCluster: changes made while it ran (image, resources, env, parameters, GPUs, volumes, network or fault tolerance) need new pods.", endpoints);
            }
            LogResuming(_logger, request.ClusterId, liveInstance, request.InstanceId);
        }

        var hash = ManifestHash(manifest);
        manifest["metadata"]!["annotations"]![AppliedHash] = hash;
        // A new instance brings its Secret along, or drops the one an earlier instance with fault tolerance left.
        if (!sameInstance && password is not null) await ApplySecretAsync(ns, request, password, ct);
        else if (!sameInstance) await DeleteSecretAsync(ns, RayClusterManifest.RedisSecretName(request.ClusterId), ct);
        var before = live;
        if (!sameInstance || Annotation(live!, AppliedHash) != hash || !SameReplicas(live!, manifest))
            live = await ApplyRayClusterAsync(ns, name, manifest, ct);
        return await ObserveAsync(request, ns, live!, sameInstance ? before : null, endpoints, ct);
    }

    /// <summary>
    /// Without autoscaling, what admission granted. With it, KubeRay's autoscaler owns <c>replicas</c>: it may shrink a
    /// group freely, and it may grow it only as far as admission granted (the reconciler grants more when the queue has
    /// room, seeing the wish in <see cref="ProviderObservation.WantedReplicas"/>).
    /// </summary>
    private static Dictionary<string, int> DesiredReplicas(ProviderClusterRequest request, JsonObject? live)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var liveReplicas = LiveReplicas(request, live);
        foreach (var group in request.Spec.Workers)
        {
            var granted = request.Replicas.TryGetValue(group.GroupName, out var g) ? g : request.Spec.TargetReplicas(group);
            result[group.GroupName] = request.Spec.Head.EnableAutoScaling && liveReplicas.TryGetValue(group.GroupName, out var l) ? Math.Min(l, granted) : granted;
        }
        return result;
    }

    private static Dictionary<string, int> LiveReplicas(ProviderClusterRequest request, JsonObject? live)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (live?["spec"]?["workerGroupSpecs"] is not JsonArray groups) return result;
        foreach (var group in groups.OfType<JsonObject>())
        {
            var k8sName = group["groupName"]?.GetValue<string>();
            var spec = request.Spec.Workers.FirstOrDefault(w => RayClusterManifest.GroupName(w.GroupName) == k8sName);
            if (spec is not null && group["replicas"].AsInt() is { } r) result[spec.GroupName] = r;
        }
        return result;
    }

    private static bool SameReplicas(JsonObject live, JsonObject manifest)
    {
        var have = (live["spec"]?["workerGroupSpecs"] as JsonArray ?? []).OfType<JsonObject>()
            .ToDictionary(g => g["groupName"]?.GetValue<string>() ?? "", g => g["replicas"].AsInt() ?? 0, StringComparer.Ordinal);
        return (manifest["spec"]?["workerGroupSpecs"] as JsonArray ?? []).OfType<JsonObject>()
            .All(g => have.TryGetValue(g["groupName"]?.GetValue<string>() ?? "", out var r) && r == g["replicas"].AsInt());
    }

    private static string ManifestHash(JsonObject manifest)
    {
        var copy = manifest.DeepClone().AsObject();
        (copy["metadata"]?["annotations"] as JsonObject)?.Remove(AppliedHash);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(copy.ToJsonString())))[..16];
    }

    private async Task<ProviderObservation> ObserveAsync(
        ProviderClusterRequest request, string ns, JsonObject live, JsonObject? before, ClusterEndpoints endpoints, CancellationToken ct)
    {
        var name = RayClusterManifest.Name(request.ClusterId);
        var pods = Cache.Pods(ns, name, request.InstanceId);
        var mapped = RayClusterStatus.Map(live, pods, request.Spec);
        if (mapped.Phase == ObservedPhase.Pending)
            mapped = RayClusterStatus.Map(live, pods, request.Spec, await EventsAsync(ns, name, pods, ct));

        var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
        if (request.Spec.Head.EnableAutoScaling)
            foreach (var (group, replicas) in LiveReplicas(request, before)) wanted[group] = replicas;

        return new ProviderObservation
        {
            Phase = mapped.Phase,
            Message = mapped.Message,
            Nodes = mapped.Nodes,
            Endpoints = endpoints,
            WantedReplicas = wanted,
            // Watch events wake the cluster as things change; the poll is a safety net while it is not steady.
            RequeueAfter = mapped.Phase == ObservedPhase.Pending ? _options.PendingPollInterval : null,
        };
    }

    /// <summary>Warning events of the RayCluster and of up to two pods that are not ready, newest first.</summary>
    private async Task<IReadOnlyList<string>> EventsAsync(string ns, string name, IReadOnlyList<V1Pod> pods, CancellationToken ct)
    {
        var objects = new List<string> { name };
        objects.AddRange(pods.Where(p => !RayClusterStatus.PodReady(p)).Select(p => p.Metadata!.Name).OrderBy(n => n, StringComparer.Ordinal).Take(2));
        var messages = new List<(DateTime When, string Text)>();
        foreach (var involved in objects)
        {
            try
            {
                var response = await Calls.RunAsync($"list events of {ns}/{involved}", c =>
                    _client.CoreV1.ListNamespacedEventWithHttpMessagesAsync(ns, fieldSelector: $"involvedObject.name={involved}", cancellationToken: c), ct);
                using var owned = response;
                foreach (var e in response.Body.Items ?? [])
                    if (e.Type == "Warning" && !string.IsNullOrEmpty(e.Message))
                        messages.Add((e.LastTimestamp ?? e.EventTime ?? e.Metadata?.CreationTimestamp ?? DateTime.MinValue, $"{involved}: {e.Reason}: {e.Message}"));
            }
            catch (KubernetesApiException ex)
            {
                // Events only explain; a cluster is observed without them.
                LogEventsFailed(_logger, ns, involved, ex.Message);
            }
        }
        return [.. messages.OrderByDescending(m => m.When).Select(m => m.Text).Distinct(StringComparer.Ordinal).Take(3)];
    }

    private ClusterEndpoints Endpoints(string ns, string clusterId)
    {
        var host = $"{RayClusterManifest.HeadServiceName(clusterId)}.{ns}.svc.{_options.ClusterDomain}";
        var inner = $"http://{host}:8265";
        string? external = null;
        if (_options.ExternalBaseUrl is { Length: > 0 } template)
        {
            external = template.Contains("{clusterId}", StringComparison.Ordinal) || template.Contains("{namespace}", StringComparison.Ordinal)
                ? template.Replace("{clusterId}", clusterId, StringComparison.Ordinal).Replace("{namespace}", ns, StringComparison.Ordinal)
                : template.TrimEnd('/') + "/" + clusterId;
        }
        return new ClusterEndpoints(
            DashboardUrl: external ?? inner,
            JobUrl: external ?? inner,
            JobUrlInner: inner,
            GrpcEndpoint: $"ray://{host}:10001");
    }

    private static ProviderObservation Waiting(string message, ClusterEndpoints endpoints) => new()
    {
        Phase = ObservedPhase.Pending,
        Message = message,
        Nodes = [],
        Endpoints = endpoints,
        RequeueAfter = TimeSpan.FromSeconds(2),
    };

    private static ProviderObservation Failed(string message, ClusterEndpoints endpoints) => new()
    {
        Phase = ObservedPhase.Failed,
        Message = message,
        Nodes = [],
        Endpoints = endpoints,
    };

    public async Task<bool> StopAsync(string instanceId, CancellationToken cancellationToken)
    {
        // A job-mode cluster is not kept for a later Start: its RayJob goes, and its RayCluster with it.
        if (!await RemoveRayJobAsync(instanceId, cancellationToken)) return false;
        var found = await FindByInstanceAsync(instanceId, cancellationToken);
        if (found is not null && found["metadata"]?["deletionTimestamp"] is null && found["spec"]?["suspend"]?.GetValue<bool>() != true)
        {
            // A merge patch rather than an apply: an apply of just this field would drop every other field Rayfleet owns.
            var (ns, name) = NameOf(found);
            var patch = new V1Patch("{\"spec\":{\"suspend\":true}}", V1Patch.PatchType.MergePatch);
            var response = await Calls.RunAsync($"suspend RayCluster {ns}/{name}", c =>
                _client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync(patch, Group, Version, ns, Plural, name, fieldManager: _options.FieldManager, cancellationToken: c),
                cancellationToken);
            using (response)
                if (ToObject(response.Body) is { } updated) Cache.Observe(updated);
            LogSuspended(_logger, name, instanceId);
            return false;
        }
        return !await PodsRemainAsync(instanceId, cancellationToken);
    }

    public async Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken)
    {
        // The RayJob of a job-mode cluster first; its RayCluster (same instance label) goes with it, and whatever is
        // left once it is gone (a Redis Secret) goes as for any cluster below.
        if (!await RemoveRayJobAsync(instanceId, cancellationToken)) return false;
        var found = await FindByInstanceAsync(instanceId, cancellationToken);
        if (found is not null)
        {
            // The Redis Secret stays while the RayCluster does: KubeRay holds a fault-tolerant RayCluster with its
            // ray.io/gcs-ft-redis-cleanup-finalizer until a cleanup Job, made from the head pod and reading
            // REDIS_PASSWORD from that Secret, has run (raycluster_controller.go 248-349, pod.go 149-158). Without the
            // Secret the Job's pod never starts, the deletion hangs for the Job's 300 s and the Redis keys stay.
            if (found["metadata"]?["deletionTimestamp"] is null) await DeleteRayClusterAsync(found, cancellationToken);
            return false;
        }
        // The RayCluster is gone, so its cleanup is over: now the Secret may go. Called again by the reconciler's poll
        // (and, for an orphan, found again by the resync through the Secret's instance label).
        var secretsGone = await DeleteInstanceSecretsAsync(instanceId, cancellationToken);
        return secretsGone && !await PodsRemainAsync(instanceId, cancellationToken);
    }

    public async Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken)
    {
        IEnumerable<JsonObject> clusters;
        if (Cache.AllSynced)
        {
            clusters = [.. Cache.Clusters, .. Cache.Jobs];
        }
        else
        {
            // Before the first list of the watch, ask the API server: the resync must not take "not seen yet" for "gone".
            var all = new List<JsonObject>();
            foreach (var ns in LookupNamespaces())
            {
                all.AddRange(await ListRayClustersAsync(ns, RayfleetLabels.Cluster, cancellationToken));
                all.AddRange(await ListCustomAsync(ns, RayJobManifest.Plural, RayfleetLabels.Cluster, cancellationToken));
            }
            clusters = all;
        }
        var secrets = new List<JsonObject>();
        // A Redis Secret outlives its RayCluster until RemoveAsync has seen the RayCluster gone: its instance is not
        // gone before, or an orphan whose RayCluster went between two resyncs would leave its Secret behind.
        var selector = SecretSelector(clusterId is null ? null : $"{RayfleetLabels.Cluster}={clusterId}");
        foreach (var ns in LookupNamespaces())
            secrets.AddRange(await ListSecretsAsync(ns, selector, cancellationToken));
        return [.. clusters
            .Where(c => clusterId is null || Label(c, RayfleetLabels.Cluster) == clusterId)
            .Concat(secrets)
            .Select(c => Label(c, RayfleetLabels.Instance))
            .Where(i => i is not null)
            .Select(i => i!)
            .Distinct(StringComparer.Ordinal)];
    }

    private static string SecretSelector(string? more) =>
        $"{RayfleetLabels.ManagedBy}={RayfleetLabels.ManagedByValue},{RayfleetLabels.Instance}" + (more is null ? "" : "," + more);

    private async Task<List<JsonObject>> ListSecretsAsync(string? ns, string selector, CancellationToken ct)
    {
        var response = await Calls.RunAsync("list secrets", c => ns is null
            ? _client.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(labelSelector: selector, cancellationToken: c)
            : _client.CoreV1.ListNamespacedSecretWithHttpMessagesAsync(ns, labelSelector: selector, cancellationToken: c), ct);
        using (response)
            // Only what names the Secret is kept: never its data.
            return [.. (response.Body.Items ?? []).Select(s => new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["name"] = s.Metadata?.Name,
                    ["namespace"] = s.Metadata?.NamespaceProperty,
                    ["uid"] = s.Metadata?.Uid,
                    ["resourceVersion"] = s.Metadata?.ResourceVersion,
                    ["labels"] = new JsonObject((s.Metadata?.Labels ?? new Dictionary<string, string>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                },
            })];
    }

    /// <summary>
    /// Deletes the Redis Secrets that carry the instance's label; true when none is left. A Secret that a newer instance
    /// of the same cluster applied meanwhile carries that instance's label and a new resourceVersion, so the
    /// preconditions leave it alone.
    /// </summary>
    private async Task<bool> DeleteInstanceSecretsAsync(string instanceId, CancellationToken ct)
    {
        if (!KubeRayChecks.IsLabelValue(instanceId)) return true;
        var gone = true;
        foreach (var ns in LookupNamespaces())
            foreach (var secret in await ListSecretsAsync(ns, SecretSelector($"{RayfleetLabels.Instance}={instanceId}"), ct))
            {
                var (secretNs, name) = NameOf(secret);
                var options = new V1DeleteOptions
                {
                    Preconditions = new V1Preconditions
                    {
                        Uid = secret["metadata"]?["uid"]?.GetValue<string>(),
                        ResourceVersion = secret["metadata"]?["resourceVersion"]?.GetValue<string>(),
                    },
                };
                try
                {
                    var response = await Calls.RunAsync($"delete Secret {secretNs}/{name}", c =>
                        _client.CoreV1.DeleteNamespacedSecretWithHttpMessagesAsync(name, secretNs, options, cancellationToken: c), ct);
                    response.Dispose();
                    LogSecretDeleted(_logger, secretNs, name, instanceId);
                }
                catch (KubernetesApiException ex) when (ex.IsNotFound)
                {
                }
                catch (KubernetesApiException ex) when (ex.IsConflict)
                {
                    // Written since it was listed: look again at the next call.
                    gone = false;
                }
            }
        return gone;
    }

    /// <summary>The RayCluster carrying the instance label, asked of the API server (not the cache): deletes act on it.</summary>
    private async Task<JsonObject?> FindByInstanceAsync(string instanceId, CancellationToken ct)
    {
        if (!KubeRayChecks.IsLabelValue(instanceId)) return null;
        foreach (var ns in LookupNamespaces())
        {
            var items = await ListRayClustersAsync(ns, $"{RayfleetLabels.Instance}={instanceId}", ct);
            if (items.Count > 0) return items[0];
        }
        return null;
    }

    private async Task<bool> PodsRemainAsync(string instanceId, CancellationToken ct)
    {
        if (!KubeRayChecks.IsLabelValue(instanceId)) return false;
        var selector = $"{RayfleetLabels.Instance}={instanceId}";
        foreach (var ns in LookupNamespaces())
        {
            var response = await Calls.RunAsync("list pods of an instance", c => ns is null
                ? _client.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(labelSelector: selector, limit: 1, cancellationToken: c)
                : _client.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, labelSelector: selector, limit: 1, cancellationToken: c), ct);
            using (response)
                if (response.Body.Items?.Count > 0) return true;
        }
        return false;
    }

    /// <summary>All namespaces at once, or each namespace Rayfleet knows of when it is not allowed to look everywhere.</summary>
    private IEnumerable<string?> LookupNamespaces()
    {
        if (_options.WatchAllNamespaces) return [null];
        lock (_namespacesLock)
            return [.. _options.Namespaces.Values.Concat(_readyNamespaces).Distinct(StringComparer.Ordinal)];
    }

    private async Task<List<JsonObject>> ListRayClustersAsync(string? ns, string selector, CancellationToken ct)
    {
        var response = await Calls.RunAsync("list rayclusters", c => ns is null
            ? _client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(Group, Version, Plural, labelSelector: selector, cancellationToken: c)
            : _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, labelSelector: selector, cancellationToken: c), ct);
        using (response)
            return [.. ((ToObject(response.Body)?["items"] as JsonArray) ?? []).OfType<JsonObject>().Select(i => i.DeepClone().AsObject())];
    }

    private async Task<JsonObject?> CurrentAsync(string ns, string name, CancellationToken ct)
    {
        if (await Cache.WaitSyncedAsync(ns, ct)) return Cache.GetCluster(ns, name)?.DeepClone().AsObject();
        return await GetRayClusterAsync(ns, name, ct);
    }

    private async Task<JsonObject?> GetRayClusterAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"get RayCluster {ns}/{name}", c =>
                _client.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, name, cancellationToken: c), ct);
            using (response)
            {
                var o = ToObject(response.Body);
                if (o is not null) Cache.Observe(o);
                return o?.DeepClone().AsObject();
            }
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            return null;
        }
    }

    private async Task<JsonObject> ApplyRayClusterAsync(string ns, string name, JsonObject manifest, CancellationToken ct)
    {
        var body = new V1Patch(manifest.ToJsonString(), V1Patch.PatchType.ApplyPatch);
        var response = await Calls.RunAsync($"apply RayCluster {ns}/{name}", c =>
            _client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync(
                body, Group, Version, ns, Plural, name, fieldManager: _options.FieldManager, fieldValidation: "Strict", force: true, cancellationToken: c), ct);
        using (response)
        {
            var applied = ToObject(response.Body) ?? manifest;
            Cache.Observe(applied);
            var instance = Label(applied, RayfleetLabels.Instance);
            LogApplied(_logger, ns, name, instance);
            return applied.DeepClone().AsObject();
        }
    }

    private async Task DeleteRayClusterAsync(JsonObject live, CancellationToken ct)
    {
        var (ns, name) = NameOf(live);
        // Foreground: the RayCluster stays, with a deletionTimestamp, until KubeRay's pods and services are gone; the
        // uid precondition makes sure the object deleted is the one looked at.
        var options = new V1DeleteOptions
        {
            PropagationPolicy = "Foreground",
            Preconditions = new V1Preconditions { Uid = live["metadata"]?["uid"]?.GetValue<string>() },
        };
        try
        {
            var response = await Calls.RunAsync($"delete RayCluster {ns}/{name}", c =>
                _client.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, name, options, propagationPolicy: "Foreground", cancellationToken: c), ct);
            response.Dispose();
            var instance = Label(live, RayfleetLabels.Instance);
            LogDeleting(_logger, ns, name, instance);
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound || ex.IsConflict)
        {
            // Gone already, or replaced since it was read: the next pass looks again.
        }
    }

    private async Task ApplySecretAsync(string ns, ProviderClusterRequest request, string password, CancellationToken ct)
    {
        var name = RayClusterManifest.RedisSecretName(request.ClusterId);
        var secret = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue,
                    [RayfleetLabels.Workspace] = request.WorkspaceId,
                    [RayfleetLabels.Cluster] = request.ClusterId,
                    // Which instance's RayCluster reads it: RemoveAsync of that instance deletes it once the RayCluster
                    // is gone, and a Start relabels it for the new instance before its RayCluster is applied.
                    [RayfleetLabels.Instance] = request.InstanceId,
                },
            },
            ["type"] = "Opaque",
            ["data"] = new JsonObject { [RayClusterManifest.RedisPasswordKey] = Convert.ToBase64String(Encoding.UTF8.GetBytes(password)) },
        };
        var body = new V1Patch(secret.ToJsonString(), V1Patch.PatchType.ApplyPatch);
        var response = await Calls.RunAsync($"apply Secret {ns}/{name}", c =>
            _client.CoreV1.PatchNamespacedSecretWithHttpMessagesAsync(body, name, ns, fieldManager: _options.FieldManager, force: true, cancellationToken: c), ct);
        response.Dispose();
    }

    private async Task DeleteSecretAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"delete Secret {ns}/{name}", c =>
                _client.CoreV1.DeleteNamespacedSecretWithHttpMessagesAsync(name, ns, cancellationToken: c), ct);
            response.Dispose();
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
        }
    }

    private async Task EnsureNamespaceAsync(string ns, string workspaceId, CancellationToken ct)
    {
        lock (_namespacesLock)
            if (_readyNamespaces.Contains(ns)) return;
        try
        {
            var response = await Calls.RunAsync($"get namespace {ns}", c => _client.CoreV1.ReadNamespaceWithHttpMessagesAsync(ns, cancellationToken: c), ct);
            response.Dispose();
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            if (!_options.CreateNamespaces)
                throw new KubernetesApiException(ex.Status, $"Namespace '{ns}' of workspace {workspaceId} does not exist, and Rayfleet:Kubernetes:CreateNamespaces is off.");
            var body = new V1Namespace
            {
                Metadata = new V1ObjectMeta
                {
                    Name = ns,
                    Labels = new Dictionary<string, string> { [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue, [RayfleetLabels.Workspace] = workspaceId },
                },
            };
            try
            {
                var created = await Calls.RunAsync($"create namespace {ns}", c => _client.CoreV1.CreateNamespaceWithHttpMessagesAsync(body, fieldManager: _options.FieldManager, cancellationToken: c), ct);
                created.Dispose();
                LogNamespaceCreated(_logger, ns, workspaceId);
            }
            catch (KubernetesApiException conflict) when (conflict.IsConflict)
            {
                // Created meanwhile by someone else: as good.
            }
        }
        lock (_namespacesLock) _readyNamespaces.Add(ns);
        Cache.EnsureWatching(ns);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied RayCluster {Namespace}/{Name} for instance {InstanceId}")]
    private static partial void LogApplied(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleting RayCluster {Namespace}/{Name} of instance {InstanceId} (foreground)")]
    private static partial void LogDeleting(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted Secret {Namespace}/{Name} of instance {InstanceId}: its RayCluster is gone")]
    private static partial void LogSecretDeleted(ILogger logger, string @namespace, string name, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Suspended RayCluster {Name} of instance {InstanceId}")]
    private static partial void LogSuspended(ILogger logger, string name, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId}: resuming the suspended RayCluster of instance {Previous} as instance {InstanceId}")]
    private static partial void LogResuming(ILogger logger, string clusterId, string? previous, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId}: apply conflict (attempt {Attempt}); reading the RayCluster again")]
    private static partial void LogConflict(ILogger logger, string clusterId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created namespace {Namespace} for workspace {WorkspaceId}")]
    private static partial void LogNamespaceCreated(ILogger logger, string @namespace, string workspaceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Events of {Namespace}/{Name} could not be listed: {Reason}")]
    private static partial void LogEventsFailed(ILogger logger, string @namespace, string name, string reason);
}
