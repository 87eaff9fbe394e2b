using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Jobs on Kubernetes. A job-mode cluster (a request carrying <see cref="ProviderClusterRequest.Job"/>) is a KubeRay
/// <c>RayJob</c> named by the cluster id, with Rayfleet's labels; KubeRay makes its RayCluster (named in
/// <c>status.rayClusterName</c>, carrying the same labels, owned by the RayJob) and submits the job. Everything that
/// looks up an instance looks for a RayJob first: Stop and Remove delete it (foreground, so it stays until its
/// RayCluster, submitter and pods are gone), and the list of instances includes it. A job on an ordinary cluster goes
/// to the head service's dashboard, through the API server's service proxy or by cluster DNS
/// (<see cref="KubernetesProviderOptions.DashboardAccess"/>).
/// </summary>
public sealed partial class KubernetesProvider
{
    /// <summary>KubeRay v1.7.0 utils/constant.go:356: the container of the submitter pod (K8sJobMode) or head sidecar (SidecarMode).</summary>
    public const string SubmitterContainer = "ray-job-submitter";

    /// <summary>The label the Kubernetes Job controller puts on its pods; KubeRay names the submitter Job as the RayJob.</summary>
    public const string JobNameLabel = "job-name";

    private HttpClient? _dashboardHttp;
    private readonly Lock _httpLock = new();

    private async Task<ProviderObservation> ApplyJobCoreAsync(ProviderClusterRequest request, CancellationToken ct)
    {
        var ns = NamespaceFor(request.WorkspaceId);
        var name = RayClusterManifest.Name(request.ClusterId);
        await EnsureNamespaceAsync(ns, request.WorkspaceId, ct);
        var endpoints = Endpoints(ns, request.ClusterId);
        if (request.RedisPassword is { IsReadable: false })
            return Failed("The Redis password of gftConfig cannot be decrypted (the Data Protection key that encrypted it is gone). Update gftConfig.redisPassword and start the cluster again.", endpoints);
        var password = request.RedisPassword?.Reveal();

        var live = await CurrentRayJobAsync(ns, name, ct);
        var liveInstance = live is null ? null : Label(live, RayfleetLabels.Instance);
        if (live is not null && live["metadata"]?["deletionTimestamp"] is not null)
            return Waiting(liveInstance == request.InstanceId
                ? "The RayJob is being deleted from outside Rayfleet."
                : $"Waiting for the RayJob of the previous instance ({liveInstance}) to be deleted.", endpoints);
        if (live is not null && liveInstance != request.InstanceId)
        {
            await DeleteCustomAsync(live, RayJobManifest.Plural, ct);
            return Waiting($"Deleting the RayJob of the previous instance ({liveInstance}).", endpoints);
        }

        // Under Kueue the queue decides when a RayJob runs: its webhook suspends a new one until admitted.
        var suspend = _options.KueueQueueLabel ? (bool?)null : false;
        var manifest = RayJobManifest.Build(new RayClusterManifestInput(request, ns, suspend), _options);
        var problems = KubeRayChecks.CheckJob(manifest);
        if (problems.Count > 0) return Failed("KubeRay would refuse this job: " + string.Join(" ", problems), endpoints);

        var hash = ManifestHash(manifest);
        manifest["metadata"]!["annotations"]![AppliedHash] = hash;
        if (live is null)
        {
            if (password is not null) await ApplySecretAsync(ns, request, password, ct);
            else await DeleteSecretAsync(ns, RayClusterManifest.RedisSecretName(request.ClusterId), ct);
        }
        // KubeRay disregards later changes of rayClusterSpec (rayjob_controller.go:989-992), and a job's fields do not
        // change: an apply after the first only mends what someone else changed.
        if (live is null || Annotation(live, AppliedHash) != hash)
            live = await ApplyCustomAsync(ns, name, RayJobManifest.Plural, manifest, ct);
        return await ObserveJobAsync(request, ns, live, endpoints, ct);
    }

    /// <summary>The cluster of a RayJob is the RayCluster KubeRay made for it, observed as any other, plus what the RayJob says.</summary>
    private async Task<ProviderObservation> ObserveJobAsync(
        ProviderClusterRequest request, string ns, JsonObject rayJob, ClusterEndpoints endpoints, CancellationToken ct)
    {
        var deployment = RayJobResource.DeploymentStatus(rayJob);
        var message = rayJob["status"]?["message"]?.GetValue<string>();
        if (deployment == "ValidationFailed")
            return Failed("KubeRay refused the RayJob: " + message, endpoints);
        var clusterName = RayJobResource.RayClusterName(rayJob);
        var cluster = clusterName is null ? null : Cache.GetCluster(ns, clusterName)?.DeepClone().AsObject() ?? await GetRayClusterAsync(ns, clusterName, ct);
        if (cluster is null)
        {
            if (deployment is "Complete" or "Failed")
                return new ProviderObservation
                {
                    Phase = ObservedPhase.Pending,
                    Message = $"The job has ended ({RayJobResource.Details(rayJob).Status}); KubeRay deleted the RayCluster of its RayJob.",
                    Nodes = [],
                    Endpoints = endpoints,
                };
            return Waiting(deployment is "Suspended" or "Suspending"
                ? "The RayJob is suspended (queued by Kueue, or stopped): its RayCluster is made once it resumes."
                : "Waiting for KubeRay to make the RayCluster of the RayJob.", endpoints) with { RequeueAfter = _options.PendingPollInterval };
        }
        var pods = Cache.Pods(ns, clusterName!, request.InstanceId);
        var mapped = RayClusterStatus.Map(cluster, pods, request.Spec);
        if (mapped.Phase == ObservedPhase.Pending)
            mapped = RayClusterStatus.Map(cluster, pods, request.Spec, await EventsAsync(ns, clusterName!, pods, ct));
        return new ProviderObservation
        {
            Phase = mapped.Phase,
            Message = mapped.Message,
            Nodes = mapped.Nodes,
            Endpoints = endpoints,
            RequeueAfter = mapped.Phase == ObservedPhase.Pending ? _options.PendingPollInterval : null,
        };
    }

    /// <summary>Deletes the RayJob of the instance (foreground); true when there was none. KubeRay stops a job that did not finish.</summary>
    private async Task<bool> RemoveRayJobAsync(string instanceId, CancellationToken ct)
    {
        var job = await FindRayJobByInstanceAsync(instanceId, ct);
        if (job is null) return true;
        if (job["metadata"]?["deletionTimestamp"] is null) await DeleteCustomAsync(job, RayJobManifest.Plural, ct);
        return false;
    }

    public async Task<IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken)
    {
        var rayJob = await FindRayJobByInstanceAsync(instanceId, cancellationToken);
        if (rayJob is not null)
        {
            var (jobNs, jobName) = NameOf(rayJob);
            return new RayJobResourceApi(
                c => ReadRayJobAsync(jobNs, jobName, c),
                j => RayJobHead(jobNs, j),
                (j, c) => SubmitterLogAsync(jobNs, j, c));
        }
        var cluster = await FindByInstanceAsync(instanceId, cancellationToken);
        if (cluster is null || cluster["metadata"]?["deletionTimestamp"] is not null || cluster["spec"]?["suspend"]?.GetValue<bool>() == true) return null;
        var (ns, name) = NameOf(cluster);
        return Dashboard(ns, HeadService(cluster, name));
    }

    private IRayJobApi? RayJobHead(string ns, JsonObject rayJob)
    {
        if (!RayJobResource.HeadKnown(rayJob) || RayJobResource.RayClusterName(rayJob) is not { } clusterName) return null;
        var cluster = Cache.GetCluster(ns, clusterName);
        if (cluster is null || cluster["metadata"]?["deletionTimestamp"] is not null) return null;
        return Dashboard(ns, HeadService(cluster, clusterName));
    }

    private static string HeadService(JsonObject cluster, string clusterName) =>
        cluster["status"]?["head"]?["serviceName"]?.GetValue<string>() is { Length: > 0 } s ? s : clusterName + "-head-svc";

    /// <summary>The dashboard of a head service, as <see cref="KubernetesProviderOptions.DashboardAccess"/> says to reach it.</summary>
    internal RayJobClient Dashboard(string ns, string service)
    {
        if (_options.DashboardAccess == DashboardAccess.ClusterDns)
            return new RayJobClient(DashboardHttp(proxy: false), new Uri($"http://{service}.{ns}.svc.{_options.ClusterDomain}:8265/"));
        var root = _client is k8s.Kubernetes k ? k.BaseUri : throw new InvalidOperationException("The service proxy needs the KubernetesClient's own client; set DashboardAccess to ClusterDns.");
        var baseUri = root.AbsoluteUri.EndsWith('/') ? root : new Uri(root.AbsoluteUri + "/");
        // KubeRay names the head service's 8265 port "dashboard" (utils/constant.go:114); the proxy takes a port name.
        return new RayJobClient(DashboardHttp(proxy: true),
            new Uri(baseUri, $"api/v1/namespaces/{Uri.EscapeDataString(ns)}/services/{Uri.EscapeDataString(service)}:dashboard/proxy/"));
    }

    private HttpClient DashboardHttp(bool proxy)
    {
        lock (_httpLock)
            return _dashboardHttp ??= new HttpClient(proxy ? new KubernetesApiHandler((k8s.Kubernetes)_client) : new SocketsHttpHandler(), disposeHandler: true)
            {
                Timeout = _options.RequestTimeout,
            };
    }

    private async Task<JsonObject?> ReadRayJobAsync(string ns, string name, CancellationToken ct) =>
        Cache.IsSynced(ns) ? Cache.GetJob(ns, name)?.DeepClone().AsObject() : await GetCustomAsync(ns, name, RayJobManifest.Plural, ct);

    private async Task<JsonObject?> CurrentRayJobAsync(string ns, string name, CancellationToken ct)
    {
        if (await Cache.WaitSyncedAsync(ns, ct)) return Cache.GetJob(ns, name)?.DeepClone().AsObject();
        return await GetCustomAsync(ns, name, RayJobManifest.Plural, ct);
    }

    /// <summary>The RayJob carrying the instance label, asked of the API server (not the cache): deletes act on it.</summary>
    private async Task<JsonObject?> FindRayJobByInstanceAsync(string instanceId, CancellationToken ct)
    {
        if (!KubeRayChecks.IsLabelValue(instanceId)) return null;
        foreach (var ns in LookupNamespaces())
        {
            var items = await ListCustomAsync(ns, RayJobManifest.Plural, $"{RayfleetLabels.Instance}={instanceId}", ct);
            if (items.Count > 0) return items[0];
        }
        return null;
    }

    /// <summary>The newest submitter pod's log (K8sJobMode): <c>ray job logs --follow</c> of the job; null when no pod is left.</summary>
    private async Task<string?> SubmitterLogAsync(string ns, JsonObject rayJob, CancellationToken ct)
    {
        var (_, name) = NameOf(rayJob);
        var pods = await ListPodsAsync(ns, $"{JobNameLabel}={name}", ct);
        var newest = pods.OrderByDescending(p => p.Metadata?.CreationTimestamp ?? DateTime.MinValue).FirstOrDefault();
        if (newest is null) return null;
        using var log = await ReadPodLogAsync(ns, newest.Metadata!.Name, SubmitterContainer, ct);
        if (log is null) return null;
        using var reader = new StreamReader(log);
        return await reader.ReadToEndAsync(ct);
    }

    public async Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken)
    {
        if (!KubeRayChecks.IsLabelValue(instanceId)) return;
        foreach (var ns in LookupNamespaces())
        {
            var pods = await ListPodsAsync(ns, $"{RayfleetLabels.Instance}={instanceId}", cancellationToken);
            foreach (var pod in pods.OrderBy(p => p.Metadata?.Name, StringComparer.Ordinal))
            {
                var podNs = pod.Metadata!.NamespaceProperty;
                var type = pod.Metadata.Labels?.TryGetValue(RayfleetLabels.RayNodeType, out var t) == true ? t : "node";
                var containers = pod.Spec?.Containers?.Select(c => c.Name).ToList() ?? [];
                var container = containers.FirstOrDefault(c => c is RayClusterManifest.HeadContainer or RayClusterManifest.WorkerContainer) ?? containers.FirstOrDefault();
                await CopyPodLogAsync(podNs, pod.Metadata.Name, container, $"{type}/{pod.Metadata.Name}.log", sink, cancellationToken);
            }
        }
        // K8sJobMode: the submitter pod carries no Rayfleet label (KubeRay builds its template), but its log is the job's.
        if (await FindRayJobByInstanceAsync(instanceId, cancellationToken) is { } rayJob && RayJobResource.Mode(rayJob) == "K8sJobMode")
        {
            var (ns, name) = NameOf(rayJob);
            foreach (var pod in await ListPodsAsync(ns, $"{JobNameLabel}={name}", cancellationToken))
                await CopyPodLogAsync(ns, pod.Metadata!.Name, SubmitterContainer, $"submitter/{pod.Metadata.Name}.log", sink, cancellationToken);
        }
    }

    private async Task CopyPodLogAsync(string ns, string pod, string? container, string entry, INodeLogSink sink, CancellationToken ct)
    {
        using var log = await ReadPodLogAsync(ns, pod, container, ct);
        if (log is null) return;
        // The sink may read at its own pace; the API server's stream is bounded by tailLines and limitBytes.
        using var copy = new MemoryStream();
        await log.CopyToAsync(copy, ct);
        copy.Position = 0;
        await sink.WriteAsync(entry, copy, ct);
    }

    /// <summary>The last <see cref="KubernetesProviderOptions.NodeLogTailLines"/> lines of a container, at most <see cref="KubernetesProviderOptions.NodeLogLimitBytes"/>; null when the pod is gone or never ran.</summary>
    private async Task<Stream?> ReadPodLogAsync(string ns, string pod, string? container, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"read log of pod {ns}/{pod}", c =>
                _client.CoreV1.ReadNamespacedPodLogWithHttpMessagesAsync(pod, ns, container: container,
                    limitBytes: (int)Math.Min(int.MaxValue, _options.NodeLogLimitBytes), tailLines: _options.NodeLogTailLines, cancellationToken: c), ct);
            return response.Body;
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound || ex.Status == System.Net.HttpStatusCode.BadRequest)
        {
            // 404: gone already; 400: its container has not started (ContainerCreating), so there is no log yet.
            LogPodLogMissing(_logger, ns, pod, ex.Message);
            return null;
        }
    }

    private async Task<IList<V1Pod>> ListPodsAsync(string? ns, string selector, CancellationToken ct)
    {
        var response = await Calls.RunAsync("list pods", c => ns is null
            ? _client.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(labelSelector: selector, cancellationToken: c)
            : _client.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, labelSelector: selector, cancellationToken: c), ct);
        using (response) return response.Body.Items ?? [];
    }

    private async Task<List<JsonObject>> ListCustomAsync(string? ns, string plural, string selector, CancellationToken ct)
    {
        var response = await Calls.RunAsync("list " + plural, c => ns is null
            ? _client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(Group, Version, plural, labelSelector: selector, cancellationToken: c)
            : _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, plural, labelSelector: selector, cancellationToken: c), ct);
        using (response)
            return [.. ((ToObject(response.Body)?["items"] as JsonArray) ?? []).OfType<JsonObject>().Select(i => i.DeepClone().AsObject())];
    }

    private async Task<JsonObject?> GetCustomAsync(string ns, string name, string plural, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"get {plural} {ns}/{name}", c =>
                _client.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, plural, name, cancellationToken: c), ct);
            using (response)
            {
                var o = ToObject(response.Body);
                if (o is not null && plural == RayJobManifest.Plural) Cache.ObserveJob(o);
                return o?.DeepClone().AsObject();
            }
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            return null;
        }
    }

    private async Task<JsonObject> ApplyCustomAsync(string ns, string name, string plural, JsonObject manifest, CancellationToken ct)
    {
        var body = new V1Patch(manifest.ToJsonString(), V1Patch.PatchType.ApplyPatch);
        var response = await Calls.RunAsync($"apply {plural} {ns}/{name}", c =>
            _client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync(
                body, Group, Version, ns, plural, name, fieldManager: _options.FieldManager, fieldValidation: "Strict", force: true, cancellationToken: c), ct);
        using (response)
        {
            var applied = ToObject(response.Body) ?? manifest;
            Cache.ObserveJob(applied);
            LogAppliedJob(_logger, ns, name, Label(applied, RayfleetLabels.Instance));
            return applied.DeepClone().AsObject();
        }
    }

    private async Task DeleteCustomAsync(JsonObject live, string plural, CancellationToken ct)
    {
        var (ns, name) = NameOf(live);
        var options = new V1DeleteOptions
        {
            PropagationPolicy = "Foreground",
            Preconditions = new V1Preconditions { Uid = live["metadata"]?["uid"]?.GetValue<string>() },
        };
        try
        {
            var response = await Calls.RunAsync($"delete {plural} {ns}/{name}", c =>
                _client.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, plural, name, options, propagationPolicy: "Foreground", cancellationToken: c), ct);
            response.Dispose();
            LogDeletingJob(_logger, ns, name, Label(live, RayfleetLabels.Instance));
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound || ex.IsConflict)
        {
        }
    }

    private void DisposeJobs()
    {
        lock (_httpLock) _dashboardHttp?.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied RayJob {Namespace}/{Name} for instance {InstanceId}")]
    private static partial void LogAppliedJob(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleting RayJob {Namespace}/{Name} of instance {InstanceId} (foreground)")]
    private static partial void LogDeletingJob(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "No log of pod {Namespace}/{Pod}: {Reason}")]
    private static partial void LogPodLogMissing(ILogger logger, string @namespace, string pod, string reason);
}
