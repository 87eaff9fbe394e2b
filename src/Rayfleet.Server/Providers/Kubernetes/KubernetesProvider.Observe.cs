using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Observe: what a RayCluster and its pods say, mapped to an observation, with the warning events that explain a wait.
/// </summary>
public sealed partial class KubernetesProvider
{
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Events of {Namespace}/{Name} could not be listed: {Reason}")]
    private static partial void LogEventsFailed(ILogger logger, string @namespace, string name, string reason);
}
