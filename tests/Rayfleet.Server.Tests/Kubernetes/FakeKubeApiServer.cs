using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// An in-process Kubernetes API server on loopback that speaks the wire protocol for what the provider uses:
/// namespaces, ray.io/v1 rayclusters and rayjobs, pods (and their logs), events, secrets, and the service proxy to a
/// head's dashboard (a <see cref="FakeRayDashboard"/> per RayCluster); server-side apply and merge patches; get, list and
/// watch with resourceVersions, label selectors and bookmarks; finalizers and foreground deletion; uid and
/// resourceVersion preconditions on delete; 404, 409, 410 Gone on a watch from a compacted resourceVersion; and
/// injectable faults (429 with Retry-After, 5xx, 409). Tests change a RayCluster's status or a pod here and watch
/// Rayfleet follow; <see cref="KubeRay"/> plays the operator.
/// </summary>
public sealed class FakeKubeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private readonly List<(long Rv, string Type, string Kind, JsonObject Object)> _log = [];
    private readonly List<Watch> _watches = [];
    private readonly List<Fault> _faults = [];
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<string> _removals = [];
    // RayClusters deleted while KubeRay runs on its own: it handles each at the request after the delete, not during
    // it, as the real operator's reconcile comes after the API server answered.
    private readonly HashSet<(string Ns, string Name)> _kubeRayDue = [];
    private readonly HashSet<(string Ns, string Name)> _kubeRayJobsDue = [];
    private readonly Dictionary<string, string> _podLogs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeRayDashboard> _dashboards = new(StringComparer.Ordinal);
    private long _rv = 100;
    private long _compactedBelow;

    public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType, string Body, int Status);

    private sealed class Fault(Func<HttpRequest, bool> match, int status, int times, string? retryAfter)
    {
        public Func<HttpRequest, bool> Match { get; } = match;
        public int Status { get; } = status;
        public int Remaining { get; set; } = times;
        public string? RetryAfter { get; } = retryAfter;
    }

    private sealed class StallRule(Func<HttpRequest, bool> match, int times, TaskCompletionSource release)
    {
        public Func<HttpRequest, bool> Match { get; } = match;
        public int Remaining { get; set; } = times;
        public TaskCompletionSource Release { get; } = release;
    }

    private readonly List<StallRule> _stalls = [];

    /// <summary>
    /// Holds the next <paramref name="times"/> matching requests until the returned source is completed or the client
    /// gives up, as a slow API server would.
    /// </summary>
    public TaskCompletionSource Stall(Func<HttpRequest, bool> match, int times = int.MaxValue)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock) _stalls.Add(new StallRule(match, times, release));
        return release;
    }

    private sealed class Watch(string kind, string? ns, string? selector, bool bookmarks)
    {
        public string Kind { get; } = kind;
        public string? Namespace { get; } = ns;
        public string? Selector { get; } = selector;
        public bool Bookmarks { get; } = bookmarks;
        public Channel<string?> Lines { get; } = Channel.CreateUnbounded<string?>();
    }

    private FakeKubeApiServer(WebApplication app)
    {
        _app = app;
        KubeRay = new FakeKubeRay(this);
    }

    public string Url { get; private set; } = "";

    /// <summary>The operator's part: pods and status for RayClusters, on demand or after every write.</summary>
    public FakeKubeRay KubeRay { get; }

    /// <summary>
    /// When true, a foreground-deleted RayCluster keeps the garbage collector's <c>foregroundDeletion</c> finalizer
    /// (and so stays, with its deletionTimestamp) until <see cref="FinishDeletions"/>.
    /// </summary>
    public bool HoldDeletions { get; set; }

    public static async Task<FakeKubeApiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeKubeApiServer(app);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        server.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        CloseWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // ---- test controls ----

    /// <summary>The dashboard of a RayCluster's head, as its head service's proxy reaches it.</summary>
    public FakeRayDashboard Dashboard(string ns, string rayClusterName)
    {
        lock (_lock)
        {
            var key = $"{ns}/{rayClusterName}";
            if (!_dashboards.TryGetValue(key, out var dashboard)) _dashboards[key] = dashboard = new FakeRayDashboard();
            return dashboard;
        }
    }

    /// <summary>What the pods/log API answers for a pod (any container); without it, five numbered lines.</summary>
    public void SetPodLog(string ns, string pod, string text)
    {
        lock (_lock) _podLogs[$"{ns}/{pod}"] = text;
    }

    public static string DefaultPodLog(string pod) => string.Concat(Enumerable.Range(1, 5).Select(i => $"{pod} line {i}\n"));

    /// <summary>The next <paramref name="times"/> requests that match answer <paramref name="status"/> instead.</summary>
    public void Fail(Func<HttpRequest, bool> match, HttpStatusCode status, int times = 1, string? retryAfter = null)
    {
        lock (_lock) _faults.Add(new Fault(match, (int)status, times, retryAfter));
    }

    /// <summary>Every object that left the store, as <c>kind/namespace/name</c>, in the order they went.</summary>
    public IReadOnlyList<string> Removals
    {
        get
        {
            lock (_lock) return [.. _removals];
        }
    }

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock) return [.. _requests];
        }
    }

    public int WatchCount
    {
        get
        {
            lock (_lock) return _watches.Count;
        }
    }

    /// <summary>Ends every open watch, as an API server restart or a load balancer would.</summary>
    public void CloseWatches()
    {
        lock (_lock)
        {
            foreach (var w in _watches) w.Lines.Writer.TryComplete();
            _watches.Clear();
        }
    }

    /// <summary>Forgets the history: a watch resumed from any resourceVersion before now gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _compactedBelow = _rv + 1;
            _log.Clear();
        }
    }

    public void SendBookmarks()
    {
        lock (_lock)
        {
            foreach (var w in _watches.Where(w => w.Bookmarks))
            {
                var bookmark = new JsonObject
                {
                    ["type"] = "BOOKMARK",
                    ["object"] = new JsonObject
                    {
                        ["kind"] = w.Kind switch { "rayclusters" => "RayCluster", "rayjobs" => "RayJob", _ => "Pod" },
                        ["apiVersion"] = w.Kind is "rayclusters" or "rayjobs" ? "ray.io/v1" : "v1",
                        ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString(CultureInfo.InvariantCulture) },
                    },
                };
                w.Lines.Writer.TryWrite(bookmark.ToJsonString());
            }
        }
    }

    public JsonObject? Get(string kind, string? ns, string name)
    {
        lock (_lock) return _objects.TryGetValue(Key(kind, ns, name), out var o) ? (JsonObject)o.DeepClone() : null;
    }

    public IReadOnlyList<JsonObject> List(string kind, string? ns = null)
    {
        lock (_lock)
            return [.. _objects.Values.Where(o => Kind(o) == kind && (ns is null || Ns(o) == ns)).Select(o => (JsonObject)o.DeepClone())];
    }

    /// <summary>Creates or replaces an object as a controller would (an update, not an apply), and tells the watches.</summary>
    public JsonObject Put(string kind, JsonObject obj)
    {
        lock (_lock) return Store(kind, obj, bumpGeneration: false);
    }

    /// <summary>Changes an object in place (status, a pod's phase...) and tells the watches.</summary>
    public JsonObject Mutate(string kind, string? ns, string name, Action<JsonObject> change)
    {
        lock (_lock)
        {
            var current = (JsonObject)_objects[Key(kind, ns, name)].DeepClone();
            change(current);
            return Store(kind, current, bumpGeneration: false);
        }
    }

    /// <summary>As <see cref="Mutate"/>, for an object that a concurrent delete may have removed: then nothing happens.</summary>
    public JsonObject? MutateIfPresent(string kind, string? ns, string name, Action<JsonObject> change)
    {
        lock (_lock) return _objects.ContainsKey(Key(kind, ns, name)) ? Mutate(kind, ns, name, change) : null;
    }

    public void Remove(string kind, string? ns, string name)
    {
        lock (_lock) RemoveLocked(kind, ns, name);
    }

    public void AddEvent(string ns, string involvedName, string reason, string message, string type = "Warning")
    {
        lock (_lock)
        {
            var name = $"{involvedName}.{_rv + 1:x}";
            Store("events", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Event",
                ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                ["involvedObject"] = new JsonObject { ["name"] = involvedName, ["namespace"] = ns },
                ["reason"] = reason,
                ["message"] = message,
                ["type"] = type,
                ["lastTimestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            }, bumpGeneration: false);
        }
    }

    /// <summary>
    /// Completes the foreground deletions held by <see cref="HoldDeletions"/>: the garbage collector's finalizer goes;
    /// an object still held by another finalizer (KubeRay's Redis cleanup) stays until that one goes too.
    /// </summary>
    public void FinishDeletions()
    {
        lock (_lock)
            foreach (var o in _objects.Values.Where(o => o["metadata"]?["deletionTimestamp"] is not null).ToList())
            {
                var next = (JsonObject)o.DeepClone();
                RemoveFinalizer(next, ForegroundDeletion);
                Store(Kind(o), next, bumpGeneration: false);
            }
    }

    private const string ForegroundDeletion = "foregroundDeletion";

    public static IReadOnlyList<string> Finalizers(JsonObject o) =>
        [.. (o["metadata"]?["finalizers"] as JsonArray ?? []).Select(f => f!.GetValue<string>())];

    public static void AddFinalizer(JsonObject o, string finalizer)
    {
        if (Finalizers(o).Contains(finalizer)) return;
        var list = o["metadata"]!["finalizers"] as JsonArray;
        if (list is null) o["metadata"]!["finalizers"] = list = [];
        list.Add(finalizer);
    }

    public static void RemoveFinalizer(JsonObject o, string finalizer)
    {
        var rest = Finalizers(o).Where(f => f != finalizer).ToList();
        if (rest.Count == 0) (o["metadata"] as JsonObject)?.Remove("finalizers");
        else o["metadata"]!["finalizers"] = new JsonArray([.. rest.Select(f => (JsonNode)f)]);
    }

    // ---- the wire ----

    private static string Key(string kind, string? ns, string name) => $"{kind}/{ns}/{name}";
    private static string Kind(JsonObject o) => o["__kind"]?.GetValue<string>() ?? "";
    private static string? Ns(JsonObject o) => o["metadata"]?["namespace"]?.GetValue<string>();
    private static string Name(JsonObject o) => o["metadata"]?["name"]?.GetValue<string>() ?? "";

    private static JsonObject Public(JsonObject o)
    {
        var copy = (JsonObject)o.DeepClone();
        copy.Remove("__kind");
        return copy;
    }

    private JsonObject Store(string kind, JsonObject obj, bool bumpGeneration)
    {
        var metadata = obj["metadata"] as JsonObject ?? throw new InvalidOperationException("metadata");
        var key = Key(kind, Ns(obj), Name(obj));
        var existed = _objects.TryGetValue(key, out var old);
        metadata["uid"] ??= old?["metadata"]?["uid"]?.DeepClone() ?? Guid.NewGuid().ToString();
        metadata["creationTimestamp"] ??= old?["metadata"]?["creationTimestamp"]?.DeepClone() ?? DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        if (kind is "rayclusters" or "rayjobs")
        {
            var generation = old?["metadata"]?["generation"]?.GetValue<long>() ?? 0;
            if (!existed || (bumpGeneration && old!["spec"]?.ToJsonString() != obj["spec"]?.ToJsonString())) generation++;
            metadata["generation"] = generation;
        }
        obj["__kind"] = kind;
        if (existed && metadata["deletionTimestamp"] is not null && Finalizers(obj).Count == 0)
        {
            // The last finalizer went: the API server removes the object.
            _objects[key] = obj;
            RemoveLocked(kind, Ns(obj), Name(obj));
            return obj;
        }
        metadata["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        _objects[key] = obj;
        Emit(existed ? "MODIFIED" : "ADDED", kind, obj);
        return obj;
    }

    private void RemoveLocked(string kind, string? ns, string name)
    {
        if (!_objects.Remove(Key(kind, ns, name), out var old)) return;
        _removals.Add($"{kind}/{ns}/{name}");
        old["metadata"]!["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        Emit("DELETED", kind, old);
    }

    private void Emit(string type, string kind, JsonObject obj)
    {
        var snapshot = (JsonObject)obj.DeepClone();
        _log.Add((_rv, type, kind, snapshot));
        foreach (var w in _watches)
            if (w.Kind == kind && (w.Namespace is null || w.Namespace == Ns(snapshot)) && Matches(snapshot, w.Selector))
                w.Lines.Writer.TryWrite(new JsonObject { ["type"] = type, ["object"] = Public(snapshot) }.ToJsonString());
    }

    /// <summary>Label selectors as the provider writes them: <c>key</c>, <c>key=value</c>, <c>key!=value</c>, comma-joined.</summary>
    public static bool Matches(JsonObject obj, string? selector)
    {
        if (string.IsNullOrEmpty(selector)) return true;
        var labels = obj["metadata"]?["labels"] as JsonObject;
        string? Label(string k) => labels?[k]?.GetValue<string>();
        foreach (var term in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (term.Contains("!=", StringComparison.Ordinal))
            {
                var parts = term.Split("!=", 2);
                if (Label(parts[0]) == parts[1]) return false;
            }
            else if (term.Contains('=', StringComparison.Ordinal))
            {
                var parts = term.Split('=', 2);
                if (Label(parts[0].TrimEnd('=')) != parts[1].TrimStart('=')) return false;
            }
            else if (Label(term) is null)
            {
                return false;
            }
        }
        return true;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        string body;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
            body = await reader.ReadToEndAsync();

        Task? stall = null;
        lock (_lock)
        {
            var rule = _stalls.FirstOrDefault(s => s.Remaining > 0 && !s.Release.Task.IsCompleted && s.Match(request));
            if (rule is not null)
            {
                rule.Remaining--;
                stall = rule.Release.Task;
            }
        }
        if (stall is not null)
        {
            try
            {
                await stall.WaitAsync(ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        Fault? fault;
        lock (_lock)
        {
            fault = _faults.FirstOrDefault(f => f.Remaining > 0 && f.Match(request));
            if (fault is not null) fault.Remaining--;
        }
        if (fault is not null)
        {
            Record(request, body, fault.Status);
            if (fault.RetryAfter is not null) ctx.Response.Headers["Retry-After"] = fault.RetryAfter;
            await WriteStatusAsync(ctx, fault.Status, fault.Status switch { 429 => "TooManyRequests", 409 => "Conflict", _ => "InternalError" }, "injected fault");
            return;
        }

        var segments = request.Path.Value!.Trim('/').Split('/');
        string[] rest;
        if (segments.Length >= 2 && segments[0] == "api" && segments[1] == "v1") rest = segments[2..];
        else if (segments.Length >= 3 && segments[0] == "apis" && segments[1] == "ray.io" && segments[2] == "v1") rest = segments[3..];
        else
        {
            Record(request, body, 404);
            await WriteStatusAsync(ctx, 404, "NotFound", "no such path");
            return;
        }

        if (rest is ["namespaces", var logNs, "pods", var podName, "log"] && request.Method == "GET")
        {
            var (logStatus, text) = PodLog(logNs, podName, request.Query);
            Record(request, body, logStatus);
            ctx.Response.StatusCode = logStatus;
            ctx.Response.ContentType = logStatus == 200 ? "text/plain" : "application/json";
            await ctx.Response.WriteAsync(text);
            return;
        }
        if (rest is ["namespaces", var proxyNs, "services", var servicePort, "proxy", .. var tail])
        {
            var (proxyStatus, answer, json) = Proxy(proxyNs, servicePort, string.Join('/', tail), request.Method, body);
            Record(request, body, proxyStatus);
            ctx.Response.StatusCode = proxyStatus;
            ctx.Response.ContentType = json ? "application/json" : "text/plain";
            await ctx.Response.WriteAsync(answer);
            return;
        }

        string kind;
        string? ns = null;
        string? name = null;
        switch (rest)
        {
            case ["namespaces"]:
                kind = "namespaces";
                break;
            case ["namespaces", var n]:
                kind = "namespaces";
                name = n;
                break;
            case [var k]:
                kind = k;
                break;
            case ["namespaces", var n, var k]:
                kind = k;
                ns = n;
                break;
            case ["namespaces", var n, var k, var item]:
                kind = k;
                ns = n;
                name = item;
                break;
            default:
                Record(request, body, 404);
                await WriteStatusAsync(ctx, 404, "NotFound", "no such path");
                return;
        }

        var watch = request.Query["watch"] is { Count: > 0 } w && (w[0] == "true" || w[0] == "1");
        if (watch)
        {
            Record(request, body, 200);
            await ServeWatchAsync(ctx, kind, ns);
            return;
        }

        int status;
        JsonNode? response;
        List<(string Ns, string Name)> due, jobsDue;
        lock (_lock)
        {
            due = [.. _kubeRayDue];
            _kubeRayDue.Clear();
            jobsDue = [.. _kubeRayJobsDue];
            _kubeRayJobsDue.Clear();
            (status, response) = Serve(request, kind, ns, name, body);
            if (kind == "rayclusters" && request.Method == "DELETE" && status < 300 && KubeRay.Auto) _kubeRayDue.Add((ns!, name!));
            if (kind == "rayjobs" && request.Method == "DELETE" && status < 300 && KubeRay.Auto) _kubeRayJobsDue.Add((ns!, name!));
        }
        Record(request, body, status);
        // KubeRay's turn for what was deleted before this request: the delete of anything else right after a
        // RayCluster's (its Redis Secret, say) is served before KubeRay's cleanup runs, as it would be.
        foreach (var (dueNs, dueName) in due) KubeRay.Reconcile(dueNs, dueName);
        foreach (var (dueNs, dueName) in jobsDue) KubeRay.ReconcileJob(dueNs, dueName);
        if (kind == "rayclusters" && request.Method == "PATCH" && status < 300 && KubeRay.Auto) KubeRay.Reconcile(ns!, name!);
        if (kind == "rayjobs" && request.Method == "PATCH" && status < 300 && KubeRay.Auto) KubeRay.ReconcileJob(ns!, name!);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(response?.ToJsonString() ?? "{}");
    }

    /// <summary>pods/log: the pod's text, its last <c>tailLines</c> lines, at most <c>limitBytes</c> bytes; 400 for a container it has not.</summary>
    private (int, string) PodLog(string ns, string podName, IQueryCollection query)
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue(Key("pods", ns, podName), out var pod))
                return (404, StatusBody(404, "NotFound", $"pods \"{podName}\" not found").ToJsonString());
            var container = query["container"].FirstOrDefault();
            var containers = (pod["spec"]?["containers"] as JsonArray ?? []).Select(c => c?["name"]?.GetValue<string>()).ToList();
            if (container is not null && !containers.Contains(container))
                return (400, StatusBody(400, "BadRequest", $"container {container} is not valid for pod {podName}").ToJsonString());
            var text = _podLogs.TryGetValue($"{ns}/{podName}", out var t) ? t : DefaultPodLog(podName);
            if (int.TryParse(query["tailLines"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var tail))
            {
                var lines = text.Split('\n');
                var ends = text.EndsWith('\n');
                var kept = (ends ? lines[..^1] : lines).TakeLast(tail);
                text = string.Join('\n', kept) + (ends ? "\n" : "");
            }
            if (int.TryParse(query["limitBytes"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit))
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                if (bytes.Length > limit) text = Encoding.UTF8.GetString(bytes, 0, limit);
            }
            return (200, text);
        }
    }

    /// <summary>
    /// The service proxy to a head service's dashboard port: <c>{owner}-head-svc</c> is KubeRay's head service of the
    /// RayCluster <c>owner</c>, or of the RayCluster a RayJob named <c>owner</c> made; 404 (a Status) without one, 503
    /// (a Status) while its head pod is not ready, as the API server answers a service without endpoints.
    /// </summary>
    private (int Status, string Body, bool Json) Proxy(string ns, string servicePort, string path, string method, string body)
    {
        var parts = servicePort.Split(':');
        var service = parts[0];
        var port = parts.Length > 1 ? parts[^1] : "";
        string? cluster = null;
        lock (_lock)
        {
            if (service.EndsWith("-head-svc", StringComparison.Ordinal))
            {
                var owner = service[..^"-head-svc".Length];
                if (_objects.ContainsKey(Key("rayclusters", ns, owner))) cluster = owner;
                else if (_objects.TryGetValue(Key("rayjobs", ns, owner), out var job) && job["status"]?["rayClusterName"]?.GetValue<string>() is { } made
                         && _objects.ContainsKey(Key("rayclusters", ns, made)))
                    cluster = made;
            }
            if (cluster is null || port is not ("dashboard" or "8265"))
                return (404, StatusBody(404, "NotFound", $"services \"{service}\" not found").ToJsonString(), true);
            var headReady = _objects.Values.Any(o => Kind(o) == "pods" && Ns(o) == ns
                                                     && o["metadata"]?["labels"]?["ray.io/cluster"]?.GetValue<string>() == cluster
                                                     && o["metadata"]?["labels"]?["ray.io/node-type"]?.GetValue<string>() == "head"
                                                     && (o["status"]?["conditions"] as JsonArray ?? []).Any(c => c?["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True"));
            if (!headReady)
                return (503, StatusBody(503, "ServiceUnavailable", $"no endpoints available for service \"{service}\"").ToJsonString(), true);
        }
        var (status, answer) = Dashboard(ns, cluster).Handle(method, path, body);
        return (status, answer, status == 200);
    }

    private void Record(HttpRequest request, string body, int status)
    {
        lock (_lock) _requests.Add(new RecordedRequest(request.Method, request.Path.Value!, request.QueryString.Value ?? "", request.ContentType, body, status));
    }

    private static JsonObject StatusBody(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = code < 400 ? "Success" : "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static async Task WriteStatusAsync(HttpContext ctx, int code, string reason, string message)
    {
        ctx.Response.StatusCode = code;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(StatusBody(code, reason, message).ToJsonString());
    }

    private (int, JsonNode?) Serve(HttpRequest request, string kind, string? ns, string? name, string body)
    {
        switch (request.Method)
        {
            case "GET" when name is null:
            {
                var selector = request.Query["labelSelector"].FirstOrDefault();
                var field = request.Query["fieldSelector"].FirstOrDefault();
                var items = _objects.Values
                    .Where(o => Kind(o) == kind && (ns is null || Ns(o) == ns) && Matches(o, selector) && FieldMatches(o, field))
                    .OrderBy(o => Ns(o), StringComparer.Ordinal).ThenBy(Name, StringComparer.Ordinal)
                    .Select(o =>
                    {
                        var item = Public(o);
                        // Lists of built-in kinds carry each item's kind and apiVersion; custom resources' items do too.
                        return (JsonNode)item;
                    });
                if (int.TryParse(request.Query["limit"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit > 0)
                    items = items.Take(limit);
                return (200, new JsonObject
                {
                    ["apiVersion"] = kind is "rayclusters" or "rayjobs" ? "ray.io/v1" : "v1",
                    ["kind"] = kind switch { "rayclusters" => "RayClusterList", "rayjobs" => "RayJobList", "pods" => "PodList", "events" => "EventList", "secrets" => "SecretList", _ => "List" },
                    ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString(CultureInfo.InvariantCulture) },
                    ["items"] = new JsonArray([.. items]),
                });
            }
            case "GET":
                return _objects.TryGetValue(Key(kind, ns, name!), out var found)
                    ? (200, Public(found))
                    : (404, StatusBody(404, "NotFound", $"{kind} \"{name}\" not found"));
            case "POST" when kind == "namespaces":
            {
                var obj = JsonNode.Parse(body)!.AsObject();
                var nsName = Name(obj);
                if (_objects.ContainsKey(Key("namespaces", null, nsName))) return (409, StatusBody(409, "AlreadyExists", $"namespaces \"{nsName}\" already exists"));
                obj["metadata"]!.AsObject().Remove("namespace");
                obj["status"] = new JsonObject { ["phase"] = "Active" };
                return (201, Public(Store("namespaces", obj, false)));
            }
            case "PATCH":
                return Patch(request, kind, ns!, name!, body);
            case "DELETE":
                return Delete(request, kind, ns, name!, body);
            default:
                return (405, StatusBody(405, "MethodNotAllowed", request.Method));
        }
    }

    private static bool FieldMatches(JsonObject o, string? fieldSelector)
    {
        if (string.IsNullOrEmpty(fieldSelector)) return true;
        foreach (var term in fieldSelector.Split(','))
        {
            var parts = term.Split('=', 2);
            JsonNode? node = o;
            foreach (var part in parts[0].Split('.')) node = node?[part];
            if (node?.GetValue<string>() != parts[1]) return false;
        }
        return true;
    }

    private (int, JsonNode?) Patch(HttpRequest request, string kind, string ns, string name, string body)
    {
        if (!_objects.ContainsKey(Key("namespaces", null, ns))) return (404, StatusBody(404, "NotFound", $"namespaces \"{ns}\" not found"));
        var key = Key(kind, ns, name);
        var exists = _objects.TryGetValue(key, out var current);
        var patch = JsonNode.Parse(body)!.AsObject();
        if (request.ContentType?.StartsWith("application/apply-patch", StringComparison.Ordinal) == true)
        {
            if (string.IsNullOrEmpty(request.Query["fieldManager"].FirstOrDefault()))
                return (400, StatusBody(400, "BadRequest", "fieldManager is required for apply requests"));
            if (Name(patch) != name) return (400, StatusBody(400, "BadRequest", "the name of the object does not match the name on the URL"));
            // Server-side apply, simplified: the applier owns labels, annotations and spec as it sent them; status
            // and what the server set (uid, generation...) stay.
            var next = exists ? (JsonObject)current!.DeepClone() : new JsonObject { ["metadata"] = new JsonObject() };
            foreach (var (k, v) in patch)
                if (k != "metadata" && k != "status") next[k] = v?.DeepClone();
            var md = next["metadata"]!.AsObject();
            md["name"] = name;
            md["namespace"] = ns;
            foreach (var field in new[] { "labels", "annotations" })
                if (patch["metadata"]?[field] is JsonObject values) md[field] = values.DeepClone();
            var managers = md["managedFields"] as JsonArray ?? [];
            var manager = request.Query["fieldManager"].First()!;
            if (!managers.OfType<JsonObject>().Any(m => m["manager"]?.GetValue<string>() == manager && m["operation"]?.GetValue<string>() == "Apply"))
                managers.Add(new JsonObject { ["manager"] = manager, ["operation"] = "Apply" });
            md["managedFields"] = managers;
            return (exists ? 200 : 201, Public(Store(kind, next, bumpGeneration: true)));
        }
        if (request.ContentType?.StartsWith("application/merge-patch+json", StringComparison.Ordinal) == true)
        {
            if (!exists) return (404, StatusBody(404, "NotFound", $"{kind} \"{name}\" not found"));
            var next = (JsonObject)current!.DeepClone();
            MergePatch(next, patch);
            return (200, Public(Store(kind, next, bumpGeneration: true)));
        }
        return (415, StatusBody(415, "UnsupportedMediaType", request.ContentType ?? ""));
    }

    private static void MergePatch(JsonObject target, JsonObject patch)
    {
        foreach (var (k, v) in patch)
        {
            if (v is null) target.Remove(k);
            else if (v is JsonObject o && target[k] is JsonObject t) MergePatch(t, o);
            else target[k] = v.DeepClone();
        }
    }

    private (int, JsonNode?) Delete(HttpRequest request, string kind, string? ns, string name, string body)
    {
        if (!_objects.TryGetValue(Key(kind, ns, name), out var current)) return (404, StatusBody(404, "NotFound", $"{kind} \"{name}\" not found"));
        var options = string.IsNullOrWhiteSpace(body) ? null : JsonNode.Parse(body) as JsonObject;
        var uid = options?["preconditions"]?["uid"]?.GetValue<string>();
        if (uid is not null && uid != current["metadata"]?["uid"]?.GetValue<string>())
            return (409, StatusBody(409, "Conflict", "Precondition failed: UID in precondition does not match"));
        var resourceVersion = options?["preconditions"]?["resourceVersion"]?.GetValue<string>();
        if (resourceVersion is not null && resourceVersion != current["metadata"]?["resourceVersion"]?.GetValue<string>())
            return (409, StatusBody(409, "Conflict", "Precondition failed: ResourceVersion in precondition does not match"));
        var propagation = request.Query["propagationPolicy"].FirstOrDefault() ?? options?["propagationPolicy"]?.GetValue<string>();
        var next = (JsonObject)current.DeepClone();
        next["metadata"]!["deletionTimestamp"] ??= DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        if (kind is "rayclusters" or "rayjobs" && propagation == "Foreground")
        {
            AddFinalizer(next, ForegroundDeletion);
            next = Store(kind, next, bumpGeneration: false);
            // The garbage collector removes the dependents (KubeRay's pods; a RayJob's RayCluster with its pods, and
            // its submitter Job's pods) first, then drops its finalizer.
            var ownerUid = next["metadata"]?["uid"]?.GetValue<string>();
            List<string> clusters = kind == "rayclusters"
                ? [name]
                : _objects.Values.Where(o => Kind(o) == "rayclusters" && Ns(o) == ns
                                             && (o["metadata"]?["ownerReferences"] as JsonArray ?? []).Any(r => r?["uid"]?.GetValue<string>() == ownerUid))
                    .Select(Name).ToList();
            foreach (var cluster in clusters)
            {
                foreach (var pod in _objects.Values.Where(o => Kind(o) == "pods" && Ns(o) == ns && o["metadata"]?["labels"]?["ray.io/cluster"]?.GetValue<string>() == cluster).ToList())
                    RemoveLocked("pods", ns, Name(pod));
                if (kind == "rayjobs") RemoveLocked("rayclusters", ns, cluster);
            }
            if (kind == "rayjobs")
                foreach (var pod in _objects.Values.Where(o => Kind(o) == "pods" && Ns(o) == ns && o["metadata"]?["labels"]?["job-name"]?.GetValue<string>() == name).ToList())
                    RemoveLocked("pods", ns, Name(pod));
            var answer = Public(next);
            if (!HoldDeletions)
            {
                var released = (JsonObject)next.DeepClone();
                RemoveFinalizer(released, ForegroundDeletion);
                Store(kind, released, bumpGeneration: false);
            }
            return (200, answer);
        }
        if (Finalizers(next).Count > 0)
        {
            // Another controller's finalizer (KubeRay's Redis cleanup) holds the object until that controller drops it.
            return (200, Public(Store(kind, next, bumpGeneration: false)));
        }
        RemoveLocked(kind, ns, name);
        return (200, StatusBody(200, "", "deleted"));
    }

    private async Task ServeWatchAsync(HttpContext ctx, string kind, string? ns)
    {
        var query = ctx.Request.Query;
        var selector = query["labelSelector"].FirstOrDefault();
        var bookmarks = query["allowWatchBookmarks"].FirstOrDefault() is "true" or "1";
        var rvText = query["resourceVersion"].FirstOrDefault();
        var timeout = int.TryParse(query["timeoutSeconds"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 1800;
        var watch = new Watch(kind, ns, selector, bookmarks);
        lock (_lock)
        {
            if (long.TryParse(rvText, NumberStyles.None, CultureInfo.InvariantCulture, out var rv) && rv > 0)
            {
                if (rv < _compactedBelow)
                {
                    watch.Lines.Writer.TryWrite(new JsonObject { ["type"] = "ERROR", ["object"] = StatusBody(410, "Expired", $"too old resource version: {rv} ({_compactedBelow})") }.ToJsonString());
                    watch.Lines.Writer.TryComplete();
                }
                else
                {
                    foreach (var (eventRv, type, eventKind, obj) in _log)
                        if (eventRv > rv && eventKind == kind && (ns is null || Ns(obj) == ns) && Matches(obj, selector))
                            watch.Lines.Writer.TryWrite(new JsonObject { ["type"] = type, ["object"] = Public(obj) }.ToJsonString());
                    _watches.Add(watch);
                }
            }
            else
            {
                foreach (var obj in _objects.Values.Where(o => Kind(o) == kind && (ns is null || Ns(o) == ns) && Matches(o, selector)))
                    watch.Lines.Writer.TryWrite(new JsonObject { ["type"] = "ADDED", ["object"] = Public(obj) }.ToJsonString());
                _watches.Add(watch);
            }
        }

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.StartAsync();
        using var expiry = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        expiry.CancelAfter(TimeSpan.FromSeconds(timeout));
        try
        {
            await foreach (var line in watch.Lines.Reader.ReadAllAsync(expiry.Token))
            {
                await ctx.Response.WriteAsync(line + "\n", expiry.Token);
                await ctx.Response.Body.FlushAsync(expiry.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            lock (_lock) _watches.Remove(watch);
        }
    }
}
