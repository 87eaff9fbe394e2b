using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>The watched kinds: Rayfleet's RayClusters and RayJobs (custom objects) and their pods.</summary>
public sealed partial class KubernetesWatchCache
{
    /// <summary>A ray.io/v1 custom resource: RayClusters, or RayJobs.</summary>
    private sealed class CustomKind(KubernetesWatchCache cache, string plural, string kind, ConcurrentDictionary<string, JsonObject> store) : IKind
    {
        public string Name => plural;

        public async Task<string> ListAsync(string? ns, CancellationToken ct)
        {
            var response = await cache._calls.RunAsync("list " + plural, c => ns is null
                ? cache._client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(Group, Version, plural, labelSelector: Selector, cancellationToken: c)
                : cache._client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, plural, labelSelector: Selector, cancellationToken: c), ct);
            using var owned = response;
            var list = ToNode(response.Body) as JsonObject ?? [];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in (list["items"] as JsonArray ?? []).OfType<JsonObject>())
            {
                // A list item carries no apiVersion and kind; add them so that cached objects look like fetched ones.
                item["apiVersion"] ??= RayClusterManifest.ApiVersion;
                item["kind"] ??= kind;
                var key = Key(item["metadata"]?["namespace"]?.GetValue<string>(), item["metadata"]?["name"]?.GetValue<string>());
                seen.Add(key);
                var changed = !store.TryGetValue(key, out var old)
                              || old["metadata"]?["resourceVersion"]?.GetValue<string>() != item["metadata"]?["resourceVersion"]?.GetValue<string>();
                store[key] = item.DeepClone().AsObject();
                if (changed) cache.Notify(ClusterIdOf(item));
            }
            foreach (var (key, old) in store.ToList())
                if (InScope(key, ns) && !seen.Contains(key) && store.TryRemove(key, out _))
                    cache.Notify(ClusterIdOf(old));
            return list["metadata"]?["resourceVersion"]?.GetValue<string>() ?? "";
        }

        public async IAsyncEnumerable<string?> WatchAsync(string? ns, string resourceVersion, Action<Exception> onError, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            var request = ns is null
                ? cache._client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(Group, Version, plural, allowWatchBookmarks: true,
                    labelSelector: Selector, resourceVersion: resourceVersion, timeoutSeconds: cache.WatchTimeoutSeconds, watch: true, cancellationToken: ct)
                : cache._client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, plural, allowWatchBookmarks: true,
                    labelSelector: Selector, resourceVersion: resourceVersion, timeoutSeconds: cache.WatchTimeoutSeconds, watch: true, cancellationToken: ct);
#pragma warning disable CS0618 // WatchAsync is the client's watch reader; its replacement needs typed models this CRD has not.
            await foreach (var (type, element) in request.WatchAsync<JsonElement, object>(onError, ct))
#pragma warning restore CS0618
            {
                if (ToNode(element) is not JsonObject item) continue;
                var rv = item["metadata"]?["resourceVersion"]?.GetValue<string>();
                if (type == WatchEventType.Bookmark)
                {
                    yield return rv;
                    continue;
                }
                item["apiVersion"] ??= RayClusterManifest.ApiVersion;
                item["kind"] ??= kind;
                var key = Key(item["metadata"]?["namespace"]?.GetValue<string>(), item["metadata"]?["name"]?.GetValue<string>());
                if (type == WatchEventType.Deleted) store.TryRemove(key, out _);
                else store.AddOrUpdate(key, item, (_, old) => Newer(item, old) ? item : old);
                cache.Notify(ClusterIdOf(item));
                yield return rv;
            }
        }
    }

    private sealed class PodKind(KubernetesWatchCache cache) : IKind
    {
        public string Name => "pods";

        public async Task<string> ListAsync(string? ns, CancellationToken ct)
        {
            var response = await cache._calls.RunAsync("list pods", c => ns is null
                ? cache._client.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(labelSelector: Selector, cancellationToken: c)
                : cache._client.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, labelSelector: Selector, cancellationToken: c), ct);
            using var owned = response;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var pod in response.Body.Items ?? [])
            {
                var key = Key(pod.Metadata?.NamespaceProperty, pod.Metadata?.Name);
                seen.Add(key);
                var changed = !cache._pods.TryGetValue(key, out var old) || old.Metadata?.ResourceVersion != pod.Metadata?.ResourceVersion;
                cache._pods[key] = pod;
                if (changed) cache.Notify(ClusterIdOf(pod.Metadata?.Labels));
            }
            foreach (var (key, old) in cache._pods.ToList())
                if (InScope(key, ns) && !seen.Contains(key) && cache._pods.TryRemove(key, out _))
                    cache.Notify(ClusterIdOf(old.Metadata?.Labels));
            return response.Body.Metadata?.ResourceVersion ?? "";
        }

        public async IAsyncEnumerable<string?> WatchAsync(string? ns, string resourceVersion, Action<Exception> onError, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            var request = ns is null
                ? cache._client.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: true, labelSelector: Selector,
                    resourceVersion: resourceVersion, timeoutSeconds: cache.WatchTimeoutSeconds, watch: true, cancellationToken: ct)
                : cache._client.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, allowWatchBookmarks: true, labelSelector: Selector,
                    resourceVersion: resourceVersion, timeoutSeconds: cache.WatchTimeoutSeconds, watch: true, cancellationToken: ct);
#pragma warning disable CS0618
            await foreach (var (type, pod) in request.WatchAsync<V1Pod, V1PodList>(onError, ct))
#pragma warning restore CS0618
            {
                var rv = pod?.Metadata?.ResourceVersion;
                if (pod is null || type == WatchEventType.Bookmark)
                {
                    yield return rv;
                    continue;
                }
                var key = Key(pod.Metadata?.NamespaceProperty, pod.Metadata?.Name);
                if (type == WatchEventType.Deleted) cache._pods.TryRemove(key, out _);
                else cache._pods[key] = pod;
                cache.Notify(ClusterIdOf(pod.Metadata?.Labels));
                yield return rv;
            }
        }
    }

    private static bool InScope(string key, string? ns) => ns is null || key.StartsWith(ns + "/", StringComparison.Ordinal);

    private static JsonNode? ToNode(object? body) => body switch
    {
        JsonElement e => JsonNode.Parse(e.GetRawText()),
        JsonNode n => n,
        null => null,
        _ => JsonNode.Parse(KubernetesJson.Serialize(body)),
    };

    private int _disposed;
}
