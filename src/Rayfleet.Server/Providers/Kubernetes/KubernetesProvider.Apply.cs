using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Apply: builds the RayCluster of an instance and writes it (with its Redis Secret), resuming a suspended one when
/// its pods would look the same, and reading it again when someone else wrote it in between (409).
/// </summary>
public sealed partial class KubernetesProvider
{
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId}: resuming the suspended RayCluster of instance {Previous} as instance {InstanceId}")]
    private static partial void LogResuming(ILogger logger, string clusterId, string? previous, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {ClusterId}: apply conflict (attempt {Attempt}); reading the RayCluster again")]
    private static partial void LogConflict(ILogger logger, string clusterId, int attempt);
}
