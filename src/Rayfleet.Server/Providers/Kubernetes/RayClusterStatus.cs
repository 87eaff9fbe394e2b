using System.Text.Json.Nodes;
using k8s.Models;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>What a RayCluster and its pods say, in the provider port's words.</summary>
public sealed record MappedStatus(ObservedPhase Phase, string Message, IReadOnlyList<ObservedNode> Nodes);

/// <summary>
/// Maps a RayCluster's status and its pods onto an observation. State comes from the conditions
/// (<c>HeadPodReady</c>, <c>RayClusterProvisioned</c>, <c>ReplicaFailure</c>, suspension) and the ready/desired counts,
/// never from the deprecated <c>state</c> field, which stays <c>ready</c> while pods are pending (kuberay#2188). Without
/// conditions (KubeRay before 1.3, or the gate off) the pods decide.
/// </summary>
public static class RayClusterStatus
{
    /// <summary>Container waits that will not clear by themselves: the cluster goes to Error with the reason.</summary>
    private static readonly HashSet<string> FatalWaits = new(StringComparer.Ordinal)
    {
        "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError",
    };

    public static MappedStatus Map(JsonObject rayCluster, IReadOnlyList<V1Pod> pods, ClusterSpec spec, IReadOnlyList<string>? events = null)
    {
        var nodes = pods
            .Select(p => ToNode(p, spec))
            .OrderBy(n => n.Type == "Head" ? 0 : 1).ThenBy(n => n.GroupName, StringComparer.Ordinal).ThenBy(n => n.NodeId, StringComparer.Ordinal)
            .ToList();
        var status = rayCluster["status"] as JsonObject;
        var conditions = status?["conditions"] as JsonArray;
        var generation = rayCluster["metadata"]?["generation"].AsLong() ?? 0;
        var observedGeneration = status?["observedGeneration"].AsLong() ?? 0;

        var headPod = pods.Where(IsHead).OrderByDescending(p => p.Metadata?.CreationTimestamp).FirstOrDefault();
        var workerPods = pods.Where(p => !IsHead(p)).ToList();

        if (headPod is not null && Fatal(headPod) is { } fatal)
            return new MappedStatus(ObservedPhase.Failed, $"Head pod {headPod.Metadata!.Name} failed: {fatal}", nodes);

        var details = new List<string>();
        if (rayCluster["spec"]?["suspend"]?.GetValue<bool>() == true)
        {
            details.Add(rayCluster["metadata"]?["labels"]?[RayfleetLabels.KueueQueue] is { } queue
                ? $"Suspended until Kueue admits it to queue {queue.GetValue<string>()}."
                : "The RayCluster is suspended.");
            return Pending(details, events, nodes);
        }
        if (Condition(conditions, "RayClusterSuspending") is { Status: "True" } || Condition(conditions, "RayClusterSuspended") is { Status: "True" }
            || (conditions is null && status?["state"]?.GetValue<string>() == "suspended"))
        {
            details.Add("KubeRay is resuming the suspended RayCluster.");
            return Pending(details, events, nodes);
        }

        var headCondition = Condition(conditions, "HeadPodReady");
        var headReady = headCondition is not null ? headCondition.Status == "True" : headPod is not null && PodReady(headPod);
        var desired = status?["desiredWorkerReplicas"].AsInt() ?? DesiredWorkers(rayCluster);
        var readyWorkers = status?["readyWorkerReplicas"].AsInt() ?? workerPods.Count(PodReady);
        var provisionedCondition = Condition(conditions, "RayClusterProvisioned");
        var provisioned = provisionedCondition is not null ? provisionedCondition.Status == "True" : headReady && readyWorkers >= desired;
        var replicaFailure = Condition(conditions, "ReplicaFailure") is { Status: "True" } failure ? failure : null;
        var stale = status is null || observedGeneration < generation;

        // The pods seen must agree with the status: the two come from different watches, and a status read ahead of
        // its pods would report a ready cluster without nodes.
        var podsAgree = headPod is not null && PodReady(headPod) && workerPods.Count(PodReady) >= desired;
        if (headReady && provisioned && readyWorkers >= desired && replicaFailure is null && !stale && podsAgree)
            return new MappedStatus(ObservedPhase.Ready, $"Running on Kubernetes: head and {readyWorkers} worker(s) ready.", nodes);

        if (!headReady)
        {
            details.Add(headPod is null ? "Waiting for KubeRay to create the head pod." : $"Waiting for the head pod{Explain(headPod)}.");
        }
        else
        {
            details.Add($"Head ready; {readyWorkers} of {desired} worker(s) ready.");
            foreach (var pod in workerPods.Where(p => !PodReady(p)).OrderBy(p => p.Metadata?.Name, StringComparer.Ordinal).Take(2))
                details.Add($"Worker {pod.Metadata!.Name}{Explain(pod)}.");
        }
        if (replicaFailure is not null)
            details.Add($"KubeRay could not create or delete pods ({replicaFailure.Reason}): {replicaFailure.Message}");
        return Pending(details, events, nodes);
    }

    private static MappedStatus Pending(List<string> details, IReadOnlyList<string>? events, List<ObservedNode> nodes)
    {
        foreach (var e in events ?? [])
            if (!details.Any(d => d.Contains(e, StringComparison.Ordinal))) details.Add(e);
        var message = "Starting on Kubernetes: " + string.Join(" ", details);
        return new MappedStatus(ObservedPhase.Pending, message.Length > 1000 ? message[..997] + "..." : message, nodes);
    }

    private sealed record Cond(string Status, string Reason, string Message);

    private static Cond? Condition(JsonArray? conditions, string type)
    {
        var c = conditions?.OfType<JsonObject>().FirstOrDefault(c => c["type"]?.GetValue<string>() == type);
        return c is null ? null : new Cond(c["status"]?.GetValue<string>() ?? "Unknown", c["reason"]?.GetValue<string>() ?? "", c["message"]?.GetValue<string>() ?? "");
    }

    private static int DesiredWorkers(JsonObject rayCluster) =>
        (rayCluster["spec"]?["workerGroupSpecs"] as JsonArray)?.OfType<JsonObject>()
            .Sum(g => (g["replicas"].AsInt() ?? 0) * (g["numOfHosts"].AsInt() ?? 1)) ?? 0;

    public static bool IsHead(V1Pod pod) =>
        pod.Metadata?.Labels?.TryGetValue(RayfleetLabels.RayNodeType, out var t) == true && t == "head";

    public static bool PodReady(V1Pod pod) =>
        pod.Metadata?.DeletionTimestamp is null && pod.Status?.Phase == "Running"
        && pod.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    private static V1ContainerStatus? RayContainer(V1Pod pod) =>
        pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name is RayClusterManifest.HeadContainer or RayClusterManifest.WorkerContainer)
        ?? pod.Status?.ContainerStatuses?.FirstOrDefault();

    /// <summary>Why a pod will not come up by itself, or null while it still may.</summary>
    private static string? Fatal(V1Pod pod)
    {
        if (pod.Status?.Phase == "Failed")
        {
            var terminated = RayContainer(pod)?.State?.Terminated;
            return $"{pod.Status.Reason ?? terminated?.Reason ?? "Failed"}: {pod.Status.Message ?? terminated?.Message ?? "the pod failed"}"
                   + (terminated is not null ? $" (exit code {terminated.ExitCode})" : "");
        }
        var container = RayContainer(pod);
        if (container?.State?.Waiting is { } waiting && waiting.Reason is not null && FatalWaits.Contains(waiting.Reason))
        {
            var last = container.LastState?.Terminated;
            return $"{waiting.Reason}: {waiting.Message ?? "no message"}" + (last is not null ? $" (last exit code {last.ExitCode}{(last.Reason is null ? "" : ", " + last.Reason)})" : "");
        }
        return null;
    }

    /// <summary>": phase, reason: message" for a pod that is not ready, from its scheduling condition and its container.</summary>
    private static string Explain(V1Pod pod)
    {
        if (pod.Metadata?.DeletionTimestamp is not null) return $" {pod.Metadata.Name} is terminating";
        var scheduled = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled");
        if (scheduled is { Status: "False" })
            return $" {pod.Metadata?.Name} is {pod.Status?.Phase ?? "Pending"}, {scheduled.Reason}: {scheduled.Message}";
        var waiting = RayContainer(pod)?.State?.Waiting;
        if (waiting?.Reason is not null)
            return $" {pod.Metadata?.Name} is {pod.Status?.Phase ?? "Pending"}, {waiting.Reason}{(waiting.Message is null ? "" : ": " + waiting.Message)}";
        return $" {pod.Metadata?.Name} ({pod.Status?.Phase ?? "Pending"})";
    }

    public static ObservedNode ToNode(V1Pod pod, ClusterSpec spec)
    {
        var labels = pod.Metadata?.Labels ?? new Dictionary<string, string>();
        var head = IsHead(pod);
        string? group = null;
        if (!head && labels.TryGetValue(RayfleetLabels.RayGroup, out var g))
            group = spec.Workers.FirstOrDefault(w => RayClusterManifest.GroupName(w.GroupName) == g)?.GroupName ?? g;
        var container = RayContainer(pod);
        var state = container?.State;
        var scheduled = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled" && c.Status == "False");
        var (containerState, reason, message) = state switch
        {
            { Running: not null } => ("Running", "", ""),
            { Terminated: { } t } => ("Terminated", t.Reason ?? "", t.Message ?? ""),
            { Waiting: { } w } => ("Waiting", w.Reason ?? "", w.Message ?? ""),
            _ => ("Waiting", "", ""),
        };
        var exitCode = state?.Terminated?.ExitCode ?? container?.LastState?.Terminated?.ExitCode ?? 0;
        return new ObservedNode
        {
            NodeId = pod.Metadata?.Name ?? "",
            Type = head ? "Head" : "Worker",
            GroupName = group,
            Phase = pod.Status?.Phase ?? "Pending",
            Reason = pod.Status?.Reason ?? scheduled?.Reason ?? "",
            Message = pod.Status?.Message ?? scheduled?.Message ?? "",
            ContainerState = containerState,
            ContainerStateReason = reason,
            ContainerStateMessage = message,
            ExitCode = exitCode,
            CreateTime = pod.Metadata?.CreationTimestamp is { } created ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)).ToUnixTimeMilliseconds() : 0,
            StartTime = pod.Status?.StartTime is { } started ? new DateTimeOffset(DateTime.SpecifyKind(started, DateTimeKind.Utc)).ToUnixTimeMilliseconds() : null,
        };
    }
}
