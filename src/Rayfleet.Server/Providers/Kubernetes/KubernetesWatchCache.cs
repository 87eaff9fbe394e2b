using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// An informer in the manner of client-go's: per scope (all namespaces, or one namespace) one watch on Rayfleet's
/// RayClusters, one on its RayJobs (job-mode clusters) and one on their pods, each started with a list, resumed from the last resourceVersion (bookmarks
/// keep it fresh), re-listed on 410 Gone and every <see cref="KubernetesProviderOptions.WatchResyncInterval"/>.
/// Every change is reported to the subscribers by cluster id, so the reconciler looks at a cluster when it changed.
/// </summary>
public sealed partial class KubernetesWatchCache : IAsyncDisposable
{
    public const string Group = "ray.io";
    public const string Version = "v1";
    public const string Plural = "rayclusters";
    /// <summary>Only what Rayfleet created: every RayCluster and pod template it writes carries the cluster id label.</summary>
    public const string Selector = RayfleetLabels.Cluster;

    private readonly IKubernetes _client;
    private readonly KubernetesProviderOptions _options;
    private readonly KubernetesCalls _calls;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Scope> _scopes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, JsonObject> _clusters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, JsonObject> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Lock _subscribersLock = new();
    private Action<string>[] _subscribers = [];
    private long _lists;
    private long _gone;

    public KubernetesWatchCache(IKubernetes client, KubernetesProviderOptions options, KubernetesCalls calls, TimeProvider time, ILogger logger)
    {
        _client = client;
        _options = options;
        _calls = calls;
        _time = time;
        _logger = logger;
    }

    /// <summary>Full lists made so far (the first of each watch, resyncs and recoveries from 410).</summary>
    public long Lists => Interlocked.Read(ref _lists);

    /// <summary>Watches that ended with 410 Gone.</summary>
    public long GoneCount => Interlocked.Read(ref _gone);

    private sealed class Scope(string? ns)
    {
        public string? Namespace { get; } = ns;
        public TaskCompletionSource ClustersSynced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource PodsSynced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource JobsSynced { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Synced => ClustersSynced.Task.IsCompleted && PodsSynced.Task.IsCompleted && JobsSynced.Task.IsCompleted;
        public Task All => Task.WhenAll(ClustersSynced.Task, PodsSynced.Task, JobsSynced.Task);
        public Task? Loops { get; set; }
    }

    public void Subscribe(Action<string> clusterChanged)
    {
        lock (_subscribersLock) _subscribers = [.. _subscribers, clusterChanged];
    }

    private void Notify(string? clusterId)
    {
        if (clusterId is null) return;
        foreach (var s in Volatile.Read(ref _subscribers))
        {
            try
            {
                s(clusterId);
            }
            catch (Exception ex)
            {
                LogSubscriberFailed(_logger, ex, clusterId);
            }
        }
    }

    private string ScopeKey(string? ns) => _options.WatchAllNamespaces ? "" : ns ?? "";

    /// <summary>Starts the watches that cover <paramref name="ns"/> (all namespaces when configured so) unless running.</summary>
    public void EnsureWatching(string? ns)
    {
        var key = ScopeKey(ns);
        if (_scopes.ContainsKey(key)) return;
        var scope = new Scope(key.Length == 0 ? null : key);
        if (!_scopes.TryAdd(key, scope)) return;
        var ct = _stop.Token;
        scope.Loops = Task.WhenAll(
            Task.Run(() => WatchLoopAsync(scope, new CustomKind(this, Plural, RayClusterManifest.Kind, _clusters), scope.ClustersSynced, ct), CancellationToken.None),
            Task.Run(() => WatchLoopAsync(scope, new CustomKind(this, RayJobManifest.Plural, RayJobManifest.Kind, _jobs), scope.JobsSynced, ct), CancellationToken.None),
            Task.Run(() => WatchLoopAsync(scope, new PodKind(this), scope.PodsSynced, ct), CancellationToken.None));
    }

    public bool IsSynced(string? ns) => _scopes.TryGetValue(ScopeKey(ns), out var s) && s.Synced;

    /// <summary>True when every started scope has listed once.</summary>
    public bool AllSynced => !_scopes.IsEmpty && _scopes.Values.All(s => s.Synced);

    /// <summary>Waits, at most <see cref="KubernetesProviderOptions.CacheSyncWait"/>, for the first list of the scope.</summary>
    public async Task<bool> WaitSyncedAsync(string? ns, CancellationToken ct)
    {
        EnsureWatching(ns);
        var scope = _scopes[ScopeKey(ns)];
        if (scope.Synced) return true;
        try
        {
            await scope.All.WaitAsync(_options.CacheSyncWait, _time, ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    public IEnumerable<string?> WatchedNamespaces => _scopes.Values.Select(s => s.Namespace);

    private static string Key(string? ns, string? name) => $"{ns}/{name}";

    public JsonObject? GetCluster(string ns, string name) => _clusters.TryGetValue(Key(ns, name), out var o) ? o : null;

    public IEnumerable<JsonObject> Clusters => _clusters.Values;

    public JsonObject? GetJob(string ns, string name) => _jobs.TryGetValue(Key(ns, name), out var o) ? o : null;

    /// <summary>The RayJobs of job-mode clusters.</summary>
    public IEnumerable<JsonObject> Jobs => _jobs.Values;

    /// <summary>Pods KubeRay made for the RayCluster; of one instance only when it is named.</summary>
    public IReadOnlyList<V1Pod> Pods(string ns, string clusterName, string? instanceId = null) =>
        [.. _pods.Values.Where(p => p.Metadata?.NamespaceProperty == ns
                                    && p.Metadata.Labels?.TryGetValue(RayfleetLabels.RayCluster, out var c) == true && c == clusterName
                                    && (instanceId is null || (p.Metadata.Labels.TryGetValue(RayfleetLabels.Instance, out var i) && i == instanceId)))];

    /// <summary>Takes in what a write returned, so that the next pass does not act on an older copy.</summary>
    public void Observe(JsonObject cluster) => Observe(_clusters, cluster);

    /// <summary>As <see cref="Observe(JsonObject)"/>, for a RayJob.</summary>
    public void ObserveJob(JsonObject job) => Observe(_jobs, job);

    private static void Observe(ConcurrentDictionary<string, JsonObject> store, JsonObject o)
    {
        var ns = o["metadata"]?["namespace"]?.GetValue<string>();
        var name = o["metadata"]?["name"]?.GetValue<string>();
        store.AddOrUpdate(Key(ns, name), o, (_, old) => Newer(o, old) ? o : old);
    }

    private static bool Newer(JsonObject candidate, JsonObject current)
    {
        var a = candidate["metadata"]?["resourceVersion"]?.GetValue<string>();
        var b = current["metadata"]?["resourceVersion"]?.GetValue<string>();
        // resourceVersions are opaque; every API server in use makes them integers, and anything else takes the newcomer.
        return !long.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out var x)
               || !long.TryParse(b, NumberStyles.None, CultureInfo.InvariantCulture, out var y)
               || x >= y;
    }

    private static string? ClusterIdOf(IDictionary<string, string>? labels) =>
        labels is not null && labels.TryGetValue(RayfleetLabels.Cluster, out var id) ? id : null;

    private static string? ClusterIdOf(JsonObject o) => o["metadata"]?["labels"]?[RayfleetLabels.Cluster]?.GetValue<string>();

    /// <summary>One watched resource: how to list it, watch it, and keep it in the cache.</summary>
    private interface IKind
    {
        string Name { get; }
        Task<string> ListAsync(string? ns, CancellationToken ct);
        IAsyncEnumerable<string?> WatchAsync(string? ns, string resourceVersion, Action<Exception> onError, CancellationToken ct);
    }

    private async Task WatchLoopAsync(Scope scope, IKind kind, TaskCompletionSource synced, CancellationToken ct)
    {
        string? resourceVersion = null;
        var listedAt = DateTimeOffset.MinValue;
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null || _time.GetUtcNow() - listedAt >= _options.WatchResyncInterval)
                {
                    resourceVersion = await kind.ListAsync(scope.Namespace, ct);
                    listedAt = _time.GetUtcNow();
                    Interlocked.Increment(ref _lists);
                    synced.TrySetResult();
                }
                var gone = false;
                var opened = _time.GetUtcNow();
                await foreach (var rv in kind.WatchAsync(scope.Namespace, resourceVersion, ex =>
                               {
                                   if (ex is KubernetesException { Status.Code: (int)HttpStatusCode.Gone }) gone = true;
                                   else LogWatchEventError(_logger, ex, kind.Name);
                               }, ct))
                {
                    failures = 0;
                    if (rv is not null) resourceVersion = rv;
                }
                if (gone)
                {
                    // The resourceVersion is older than the server keeps: events were missed, so list again.
                    Interlocked.Increment(ref _gone);
                    LogGone(_logger, kind.Name, resourceVersion);
                    resourceVersion = null;
                }
                else if (_time.GetUtcNow() - opened < TimeSpan.FromSeconds(1))
                {
                    // A watch that ends as soon as it opens (a misbehaving proxy) must not turn into a busy loop.
                    await Task.Delay(_options.RetryBaseDelay, _time, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (EndOfStreamException)
            {
                // The server closed the watch before any event (its timeout): resume from the same resourceVersion,
                // after a pause so that a server closing every watch at once is not asked again in a tight loop.
                try
                {
                    await Task.Delay(_options.RetryBaseDelay, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception ex) when (IsGone(ex))
            {
                Interlocked.Increment(ref _gone);
                LogGone(_logger, kind.Name, resourceVersion);
                resourceVersion = null;
            }
            catch (Exception ex)
            {
                failures++;
                // After repeated failures the resourceVersion may be what is wrong: start over with a list.
                if (failures >= 5) resourceVersion = null;
                var delay = _calls.Retry.Delay(failures);
                LogWatchFailed(_logger, ex, kind.Name, failures, delay);
                try
                {
                    await Task.Delay(delay, _time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static bool IsGone(Exception ex) => ex switch
    {
        HttpOperationException h => h.Response?.StatusCode == HttpStatusCode.Gone,
        KubernetesApiException k => k.Status == HttpStatusCode.Gone,
        KubernetesException k => k.Status?.Code == (int)HttpStatusCode.Gone,
        _ => false,
    };

    private int WatchTimeoutSeconds => (int)Math.Max(1, _options.WatchTimeout.TotalSeconds);

    public async ValueTask DisposeAsync()
    {
        // The provider is one singleton under two service types, so the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        foreach (var scope in _scopes.Values)
        {
            try
            {
                if (scope.Loops is not null) await scope.Loops;
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch on {Kind} expired at resourceVersion {ResourceVersion} (410 Gone); listing again")]
    private static partial void LogGone(ILogger logger, string kind, string? resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch on {Kind} failed ({Failures} in a row); resuming in {Delay}")]
    private static partial void LogWatchFailed(ILogger logger, Exception ex, string kind, int failures, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch on {Kind} sent an event that could not be read")]
    private static partial void LogWatchEventError(ILogger logger, Exception ex, string kind);

    [LoggerMessage(Level = LogLevel.Error, Message = "A subscriber failed on a change of cluster {ClusterId}")]
    private static partial void LogSubscriberFailed(ILogger logger, Exception ex, string clusterId);
}
