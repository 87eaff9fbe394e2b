using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Plays KubeRay's operator against the fake API server: pods for the head and each worker group from the
/// RayCluster's templates, deleted on suspend, and a status with conditions and counts; for GCS fault tolerance with
/// Redis, the Redis cleanup finalizer and the cleanup Job that releases it. With <see cref="Auto"/> it reconciles after
/// every write of a RayCluster (a delete: at the API server's next request); otherwise a test calls
/// <see cref="Reconcile"/> when it wants.
/// </summary>
public sealed class FakeKubeRay(FakeKubeApiServer api)
{
    /// <summary>KubeRay v1.7.0 ray-operator/controllers/ray/utils/constant.go:88.</summary>
    public const string RedisCleanupFinalizer = "ray.io/gcs-ft-redis-cleanup-finalizer";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _redisCleanups = new(StringComparer.Ordinal);

    public bool Auto { get; set; }

    /// <summary>
    /// What the Redis cleanup Job of each deleted RayCluster came to, by RayCluster name: <c>Complete</c>; <c>Stuck: ...</c>
    /// while its pod cannot start; <c>Failed</c> once its deadline passed (<see cref="ExpireRedisCleanupJobs"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> RedisCleanups
    {
        get
        {
            lock (_lock) return new Dictionary<string, string>(_redisCleanups, StringComparer.Ordinal);
        }
    }

    /// <summary>When false, new pods stay Pending (unschedulable) instead of becoming Ready.</summary>
    public bool PodsBecomeReady { get; set; } = true;

    public static string Now => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public void Reconcile(string ns, string name)
    {
        var rc = api.Get("rayclusters", ns, name);
        if (rc is null) return;
        var redis = UsesRedisCleanup(rc);
        if (rc["metadata"]?["deletionTimestamp"] is not null)
        {
            if (redis && FakeKubeApiServer.Finalizers(rc).Contains(RedisCleanupFinalizer)) CleanUpRedis(ns, name, rc);
            return;
        }
        if (redis && !FakeKubeApiServer.Finalizers(rc).Contains(RedisCleanupFinalizer))
        {
            // raycluster_controller.go:248-256: the finalizer comes first, before anything of the cluster is made.
            api.Mutate("rayclusters", ns, name, o => FakeKubeApiServer.AddFinalizer(o, RedisCleanupFinalizer));
            rc = api.Get("rayclusters", ns, name)!;
        }
        var spec = rc["spec"]!.AsObject();
        var pods = Pods(ns, name);
        var generation = rc["metadata"]!["generation"]!.GetValue<long>();

        if (spec["suspend"]?.GetValue<bool>() == true)
        {
            foreach (var pod in pods) api.Remove("pods", ns, PodName(pod));
            SetStatus(ns, name, new JsonObject
            {
                ["state"] = "suspended",
                ["observedGeneration"] = generation,
                ["readyWorkerReplicas"] = 0,
                ["availableWorkerReplicas"] = 0,
                ["desiredWorkerReplicas"] = 0,
                ["conditions"] = new JsonArray(
                    Condition("RayClusterSuspended", "True", "RayClusterSuspended"),
                    Condition("RayClusterSuspending", "False", "RayClusterSuspended"),
                    Condition("HeadPodReady", "False", "HeadPodNotFound"),
                    Condition("RayClusterProvisioned", "False", "RayClusterPodsProvisioning")),
            });
            return;
        }

        var wanted = new List<(string Type, string Group, JsonObject Template)>
        {
            ("head", "headgroup", spec["headGroupSpec"]!["template"]!.AsObject()),
        };
        foreach (var group in (spec["workerGroupSpecs"] as JsonArray ?? []).OfType<JsonObject>())
            for (var i = 0; i < (group["replicas"]?.GetValue<int>() ?? 0); i++)
                wanted.Add(("worker", group["groupName"]!.GetValue<string>(), group["template"]!.AsObject()));

        var remaining = pods.ToList();
        foreach (var (type, group, template) in wanted)
        {
            var existing = remaining.FirstOrDefault(p => Label(p, "ray.io/group") == group);
            if (existing is not null)
            {
                remaining.Remove(existing);
                continue;
            }
            api.Put("pods", NewPod(ns, name, type, group, template, spec));
        }
        foreach (var extra in remaining) api.Remove("pods", ns, PodName(extra));

        Refresh(ns, name);
    }

    /// <summary>KubeRay v1.7.0 utils/util.go:765-782: fault tolerance on (annotation or options), and not the embedded RocksDB backend.</summary>
    private static bool UsesRedisCleanup(JsonObject rc)
    {
        var options = rc["spec"]?["gcsFaultToleranceOptions"] as JsonObject;
        var enabled = string.Equals(rc["metadata"]?["annotations"]?["ray.io/ft-enabled"]?.GetValue<string>(), "true", StringComparison.OrdinalIgnoreCase) || options is not null;
        return enabled && options?["backend"]?.GetValue<string>() != "rocksdb";
    }

    /// <summary>
    /// raycluster_controller.go:262-349 and buildRedisCleanupJob (1807-1899): once the head pod is gone, a Job made from
    /// the head pod runs; its container gets REDIS_PASSWORD from <c>gcsFaultToleranceOptions.redisPassword</c>
    /// (common/pod.go:149-158), so a Secret it refers to must still be there for the pod to start. When the Job has
    /// finished the finalizer goes; a pod that cannot start keeps the Job active until its 300 s deadline.
    /// </summary>
    private void CleanUpRedis(string ns, string name, JsonObject rc)
    {
        if (Pods(ns, name).Any(p => Label(p, "ray.io/node-type") == "head")) return;
        if (rc["spec"]?["gcsFaultToleranceOptions"]?["redisPassword"]?["valueFrom"]?["secretKeyRef"] is JsonObject reference)
        {
            var secretName = reference["name"]!.GetValue<string>();
            var key = reference["key"]!.GetValue<string>();
            if (api.Get("secrets", ns, secretName)?["data"]?[key] is null)
            {
                lock (_lock)
                    _redisCleanups[name] = $"Stuck: the cleanup Job's pod cannot start: CreateContainerConfigError: secret \"{secretName}\" not found";
                return;
            }
        }
        ReleaseRedisFinalizer(ns, name, "Complete");
    }

    /// <summary>The 300 s deadline of every stuck cleanup Job passes: the Job fails, KubeRay drops the finalizer anyway.</summary>
    public void ExpireRedisCleanupJobs()
    {
        List<string> stuck;
        lock (_lock) stuck = [.. _redisCleanups.Where(kv => kv.Value.StartsWith("Stuck", StringComparison.Ordinal)).Select(kv => kv.Key)];
        foreach (var rc in api.List("rayclusters").Where(rc => stuck.Contains(rc["metadata"]!["name"]!.GetValue<string>())))
            ReleaseRedisFinalizer(rc["metadata"]!["namespace"]!.GetValue<string>(), rc["metadata"]!["name"]!.GetValue<string>(), "Failed");
    }

    private void ReleaseRedisFinalizer(string ns, string name, string outcome)
    {
        lock (_lock) _redisCleanups[name] = outcome;
        api.Mutate("rayclusters", ns, name, o => FakeKubeApiServer.RemoveFinalizer(o, RedisCleanupFinalizer));
    }

    /// <summary>Recomputes the status from the pods, the way KubeRay's status update does.</summary>
    public void Refresh(string ns, string name)
    {
        var rc = api.Get("rayclusters", ns, name);
        if (rc is null) return;
        var pods = Pods(ns, name);
        var head = pods.FirstOrDefault(p => Label(p, "ray.io/node-type") == "head");
        var workers = pods.Where(p => Label(p, "ray.io/node-type") == "worker").ToList();
        var desired = (rc["spec"]?["workerGroupSpecs"] as JsonArray ?? []).OfType<JsonObject>().Sum(g => g["replicas"]?.GetValue<int>() ?? 0);
        var readyWorkers = workers.Count(Ready);
        var headReady = head is not null && Ready(head);
        var wasProvisioned = (rc["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>()
            .Any(c => c["type"]?.GetValue<string>() == "RayClusterProvisioned" && c["status"]?.GetValue<string>() == "True") == true;
        var provisioned = wasProvisioned || (headReady && readyWorkers >= desired);
        SetStatus(ns, name, new JsonObject
        {
            ["state"] = "ready",
            ["observedGeneration"] = rc["metadata"]!["generation"]!.GetValue<long>(),
            ["readyWorkerReplicas"] = readyWorkers,
            ["availableWorkerReplicas"] = workers.Count(p => p["status"]?["phase"]?.GetValue<string>() == "Running"),
            ["desiredWorkerReplicas"] = desired,
            ["head"] = new JsonObject { ["serviceName"] = name + "-head-svc", ["podName"] = head is null ? null : PodName(head) },
            ["conditions"] = new JsonArray(
                Condition("HeadPodReady", headReady ? "True" : "False", headReady ? "HeadPodRunningAndReady" : "HeadPodNotFound"),
                Condition("RayClusterProvisioned", provisioned ? "True" : "False", provisioned ? "AllPodRunningAndReadyFirstTime" : "RayClusterPodsProvisioning")),
        });
    }

    public void SetStatus(string ns, string name, JsonObject status) =>
        api.Mutate("rayclusters", ns, name, rc => rc["status"] = status);

    public static JsonObject Condition(string type, string status, string reason, string message = "") => new()
    {
        ["type"] = type,
        ["status"] = status,
        ["reason"] = reason,
        ["message"] = message,
        ["lastTransitionTime"] = Now,
    };

    public IReadOnlyList<JsonObject> Pods(string ns, string name) =>
        [.. api.List("pods", ns).Where(p => Label(p, "ray.io/cluster") == name)];

    public JsonObject HeadPod(string ns, string name) => Pods(ns, name).Single(p => Label(p, "ray.io/node-type") == "head");

    /// <summary>The head's container crashes over and over.</summary>
    public void CrashHead(string ns, string name, int exitCode = 1)
    {
        var head = HeadPod(ns, name);
        api.Mutate("pods", ns, PodName(head), p =>
        {
            p["status"]!["conditions"] = new JsonArray(new JsonObject { ["type"] = "Ready", ["status"] = "False" });
            p["status"]!["containerStatuses"] = new JsonArray(new JsonObject
            {
                ["name"] = "ray-head",
                ["ready"] = false,
                ["restartCount"] = 4,
                ["image"] = "x",
                ["imageID"] = "",
                ["state"] = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = "CrashLoopBackOff", ["message"] = "back-off 40s restarting failed container" } },
                ["lastState"] = new JsonObject { ["terminated"] = new JsonObject { ["exitCode"] = exitCode, ["reason"] = "Error" } },
            });
        });
    }

    public static string? Label(JsonObject o, string key) => o["metadata"]?["labels"]?[key]?.GetValue<string>();
    public static string PodName(JsonObject o) => o["metadata"]!["name"]!.GetValue<string>();
    private static bool Ready(JsonObject pod) =>
        (pod["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>().Any(c => c["type"]?.GetValue<string>() == "Ready" && c["status"]?.GetValue<string>() == "True") == true;

    private JsonObject NewPod(string ns, string cluster, string type, string group, JsonObject template, JsonObject spec)
    {
        var suffix = RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 5);
        var name = type == "head" ? $"{cluster}-head-{suffix}" : $"{cluster}-{group}-worker-{suffix}";
        var labels = (template["metadata"]?["labels"] as JsonObject)?.DeepClone().AsObject() ?? [];
        labels["ray.io/cluster"] = cluster;
        labels["ray.io/node-type"] = type;
        labels["ray.io/group"] = group;
        labels["ray.io/is-ray-node"] = "yes";
        var container = template["spec"]!["containers"]![0]!;
        var ready = PodsBecomeReady;
        var podSpec = new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject
            {
                ["name"] = container["name"]!.GetValue<string>(),
                ["image"] = container["image"]!.GetValue<string>(),
                ["resources"] = container["resources"]?.DeepClone(),
            }),
        };
        if (spec["enableInTreeAutoscaling"]?.GetValue<bool>() == true)
        {
            // KubeRay v1.7.0 common/pod.go ~251–283: the head gets the autoscaler sidecar, 500m/512Mi unless
            // autoscalerOptions.resources says otherwise (~989–998, ~1006); only version v2 makes restartPolicy Never.
            if (type == "head")
                podSpec["containers"]!.AsArray().Add(new JsonObject
                {
                    ["name"] = "autoscaler",
                    ["image"] = container["image"]!.GetValue<string>(),
                    ["resources"] = spec["autoscalerOptions"]?["resources"]?.DeepClone() ?? new JsonObject
                    {
                        ["requests"] = new JsonObject { ["cpu"] = "500m", ["memory"] = "512Mi" },
                        ["limits"] = new JsonObject { ["cpu"] = "500m", ["memory"] = "512Mi" },
                    },
                });
            if (spec["autoscalerOptions"]?["version"]?.GetValue<string>() == "v2") podSpec["restartPolicy"] = "Never";
        }
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = labels },
            ["spec"] = podSpec,
            ["status"] = ready
                ? new JsonObject
                {
                    ["phase"] = "Running",
                    ["startTime"] = Now,
                    ["conditions"] = new JsonArray(
                        new JsonObject { ["type"] = "PodScheduled", ["status"] = "True" },
                        new JsonObject { ["type"] = "Ready", ["status"] = "True" }),
                    ["containerStatuses"] = new JsonArray(new JsonObject
                    {
                        ["name"] = container["name"]!.GetValue<string>(),
                        ["ready"] = true,
                        ["restartCount"] = 0,
                        ["image"] = container["image"]!.GetValue<string>(),
                        ["imageID"] = "",
                        ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = Now } },
                    }),
                }
                : new JsonObject
                {
                    ["phase"] = "Pending",
                    ["conditions"] = new JsonArray(new JsonObject
                    {
                        ["type"] = "PodScheduled",
                        ["status"] = "False",
                        ["reason"] = "Unschedulable",
                        ["message"] = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                    }),
                },
        };
    }
}
