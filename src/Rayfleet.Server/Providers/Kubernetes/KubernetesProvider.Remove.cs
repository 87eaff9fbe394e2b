using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Stop, remove and list: suspending or deleting the RayCluster that carries an instance, then its Secret, and
/// listing the instances of every RayCluster Rayfleet made.
/// </summary>
public sealed partial class KubernetesProvider
{
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Suspended RayCluster {Name} of instance {InstanceId}")]
    private static partial void LogSuspended(ILogger logger, string name, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted Secret {Namespace}/{Name} of instance {InstanceId}: its RayCluster is gone")]
    private static partial void LogSecretDeleted(ILogger logger, string @namespace, string name, string instanceId);
}
