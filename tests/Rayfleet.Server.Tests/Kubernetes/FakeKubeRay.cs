using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Plays KubeRay's operator against the fake API server: pods for the head and each worker group from the
/// RayCluster's templates, deleted on suspend, and a status with conditions and counts; RayJobs as KubeRay v1.7.0's
/// RayJob controller runs them (<see cref="ReconcileJob"/>); for GCS fault tolerance with
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

    /// <summary>How far the RayJob controller's clock is ahead of the wall clock (active deadlines, TTLs).</summary>
    public TimeSpan JobClockAhead { get; set; }

    private DateTime JobNow => DateTime.UtcNow + JobClockAhead;

    private static string Iso(DateTime t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The RayCluster the RayJob made, and its dashboard, once KubeRay named it.</summary>
    public FakeRayDashboard? JobDashboard(string ns, string rayJobName) =>
        api.Get("rayjobs", ns, rayJobName)?["status"]?["rayClusterName"]?.GetValue<string>() is { } cluster ? api.Dashboard(ns, cluster) : null;

    /// <summary>
    /// KubeRay v1.7.0's RayJob controller (rayjob_controller.go Reconcile), as far as Rayfleet's RayJobs go, run until
    /// nothing changes: the finalizer and the initial status (jobId from spec.jobId, rayClusterName the RayJob's name
    /// plus five characters), validation, the RayCluster made from rayClusterSpec with the RayJob's labels and an owner
    /// reference, the submission by mode once the RayCluster is ready (K8sJobMode: a submitter pod of Job
    /// <c>job-name</c>; HTTPMode: the operator's own submit when Ray does not know the job; SidecarMode: the head's
    /// container), the job's status from the dashboard, the active deadline (Failed, DeadlineExceeded, the Ray job left
    /// running), and shutdownAfterJobFinishes after ttlSecondsAfterFinished. On deletion it stops an unfinished job at
    /// the dashboard and drops its finalizer.
    /// </summary>
    public void ReconcileJob(string ns, string name)
    {
        for (var round = 0; round < 8; round++)
            if (!ReconcileJobOnce(ns, name)) return;
    }

    private bool ReconcileJobOnce(string ns, string name)
    {
        var rj = api.Get("rayjobs", ns, name);
        if (rj is null) return false;
        var spec = rj["spec"]!.AsObject();
        var status = rj["status"] as JsonObject ?? [];
        var deployment = status["jobDeploymentStatus"]?.GetValue<string>() ?? "";
        var jobId = status["jobId"]?.GetValue<string>();
        var clusterName = status["rayClusterName"]?.GetValue<string>();
        var mode = spec["submissionMode"]?.GetValue<string>() ?? "K8sJobMode";
        var jobStatus = status["jobStatus"]?.GetValue<string>() ?? "";
        static bool Terminal(string s) => s is "SUCCEEDED" or "FAILED" or "STOPPED";

        if (rj["metadata"]?["deletionTimestamp"] is not null)
        {
            // rayjob_controller.go:112-138
            if (!Terminal(jobStatus) && clusterName is not null && jobId is not null)
                api.Dashboard(ns, clusterName).Handle("POST", $"api/jobs/{jobId}/stop", "");
            if (FakeKubeApiServer.Finalizers(rj).Contains(RayJobStopFinalizer))
                api.MutateIfPresent("rayjobs", ns, name, o => FakeKubeApiServer.RemoveFinalizer(o, RayJobStopFinalizer));
            return false;
        }

        var next = (JsonObject)status.DeepClone();
        void Fail(string reason, string message)
        {
            next["jobDeploymentStatus"] = "Failed";
            next["reason"] = reason;
            next["message"] = message;
        }
        bool DeadlinePassed() => spec["activeDeadlineSeconds"]?.GetValue<int>() is { } d
                                 && DateTime.Parse(status["startTime"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal) .AddSeconds(d) <= JobNow;

        // validateRayJob (rayjob_controller.go:464-483), before anything else.
        var shutdown = spec["shutdownAfterJobFinishes"]?.GetValue<bool>() == true;
        var ttl = spec["ttlSecondsAfterFinished"]?.GetValue<int>() ?? 0;
        string? invalid = (spec["suspend"]?.GetValue<bool>() == true && !shutdown) ? "a RayJob with shutdownAfterJobFinishes set to false is not allowed to be suspended"
            : ttl < 0 ? "TTLSecondsAfterFinished must be a non-negative integer"
            : ttl > 0 && !shutdown ? "a RayJob with shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"
            : spec["activeDeadlineSeconds"]?.GetValue<int>() <= 0 ? "activeDeadlineSeconds must be a positive integer"
            : null;
        if (invalid is not null && deployment != "ValidationFailed")
        {
            next["jobDeploymentStatus"] = "ValidationFailed";
            next["reason"] = "ValidationFailed";
            next["message"] = "The RayJob spec is invalid: " + invalid;
            return SetJobStatus(ns, name, next);
        }

        switch (deployment)
        {
            case "":
                if (!FakeKubeApiServer.Finalizers(rj).Contains(RayJobStopFinalizer))
                    api.MutateIfPresent("rayjobs", ns, name, o => FakeKubeApiServer.AddFinalizer(o, RayJobStopFinalizer));
                next["jobId"] = spec["jobId"]?.GetValue<string>() ?? name + "-" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 5);
                next["rayClusterName"] = name + "-" + RandomNumberGenerator.GetString("bcdfghjklmnpqrstvwxz2456789", 5);
                next["jobStatus"] = "";
                next["jobDeploymentStatus"] = "Initializing";
                next["startTime"] = Iso(JobNow);
                break;
            case "Initializing":
            {
                if (DeadlinePassed())
                {
                    Fail("DeadlineExceeded", "The RayJob has passed the activeDeadlineSeconds.");
                    break;
                }
                var cluster = EnsureJobCluster(ns, rj, clusterName!, mode);
                Reconcile(ns, clusterName!);
                if (api.Get("rayclusters", ns, clusterName!)?["status"]?["state"]?.GetValue<string>() != "ready"
                    || !Pods(ns, clusterName!).Any(p => Label(p, "ray.io/node-type") == "head" && Ready(p)))
                    break;
                _ = cluster;
                next["dashboardURL"] = $"{name}-head-svc.{ns}.svc.cluster.local:8265";
                if (mode == "K8sJobMode")
                {
                    if (!api.List("pods", ns).Any(p => Label(p, "job-name") == name))
                        api.Put("pods", SubmitterPod(ns, name, rj));
                    SubmitFromRayJob(ns, clusterName!, rj);
                }
                if (mode == "SidecarMode") SubmitFromRayJob(ns, clusterName!, rj);
                next["jobDeploymentStatus"] = "Running";
                break;
            }
            case "Running":
            {
                if (DeadlinePassed())
                {
                    Fail("DeadlineExceeded", "The RayJob has passed the activeDeadlineSeconds.");
                    break;
                }
                var dashboard = api.Dashboard(ns, clusterName!);
                var job = dashboard.Get(jobId!);
                if (job is null)
                {
                    // reconcileHTTPModeJobNotFound: only HTTPMode submits here.
                    if (mode == "HTTPMode") SubmitFromRayJob(ns, clusterName!, rj);
                    break;
                }
                next["jobStatus"] = job.Status;
                next["message"] = job.Message;
                next["rayJobInfo"] = new JsonObject
                {
                    ["startTime"] = FakeRayDashboard.Iso(job.StartTime),
                    ["endTime"] = job.EndTime is { } end ? FakeRayDashboard.Iso(end) : null,
                };
                if (mode == "K8sJobMode") UpdateSubmitter(ns, name, job);
                if (Terminal(job.Status))
                {
                    next["jobDeploymentStatus"] = job.Status == "FAILED" ? "Failed" : "Complete";
                    if (job.Status == "FAILED") next["reason"] = "AppFailed";
                }
                break;
            }
            case "Complete" or "Failed":
            {
                // handleShutdownAfterJobFinishes: the RayCluster only; the submitter Job stays for its logs.
                var ended = next["endTime"]?.GetValue<string>() is { } e ? DateTime.Parse(e, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal) : JobNow;
                if (shutdown && clusterName is not null && ended.AddSeconds(ttl) <= JobNow && api.Get("rayclusters", ns, clusterName) is not null)
                {
                    foreach (var pod in Pods(ns, clusterName)) api.Remove("pods", ns, PodName(pod));
                    api.Remove("rayclusters", ns, clusterName);
                    return true;
                }
                return false;
            }
            default:
                return false;
        }
        if (next["jobDeploymentStatus"]?.GetValue<string>() is "Complete" or "Failed" && deployment is not ("Complete" or "Failed"))
            next["endTime"] = Iso(JobNow);
        return SetJobStatus(ns, name, next);
    }

    /// <summary>KubeRay v1.7.0 utils/constant.go:347.</summary>
    public const string RayJobStopFinalizer = "ray.io/rayjob-finalizer";

    private bool SetJobStatus(string ns, string name, JsonObject status)
    {
        var current = api.Get("rayjobs", ns, name)!;
        if (current["status"]?.ToJsonString() == status.ToJsonString()) return false;
        api.MutateIfPresent("rayjobs", ns, name, o => o["status"] = status);
        return true;
    }

    /// <summary>constructRayClusterForRayJob (rayjob_controller.go:997-1042): labels copied, owned by the RayJob.</summary>
    private JsonObject EnsureJobCluster(string ns, JsonObject rj, string clusterName, string mode)
    {
        if (api.Get("rayclusters", ns, clusterName) is { } existing) return existing;
        var labels = (rj["metadata"]?["labels"] as JsonObject)?.DeepClone().AsObject() ?? [];
        labels["ray.io/originated-from-cr-name"] = rj["metadata"]!["name"]!.GetValue<string>();
        labels["ray.io/originated-from-crd"] = "RayJob";
        labels["ray.io/job-submission-mode"] = mode;
        var spec = rj["spec"]!["rayClusterSpec"]!.DeepClone().AsObject();
        if (mode == "SidecarMode")
        {
            var head = spec["headGroupSpec"]!["template"]!["spec"]!.AsObject();
            head["containers"]!.AsArray().Add(new JsonObject { ["name"] = "ray-job-submitter", ["image"] = head["containers"]![0]!["image"]!.GetValue<string>() });
            head["restartPolicy"] = "Never";
        }
        return api.Put("rayclusters", new JsonObject
        {
            ["apiVersion"] = "ray.io/v1",
            ["kind"] = "RayCluster",
            ["metadata"] = new JsonObject
            {
                ["name"] = clusterName,
                ["namespace"] = ns,
                ["labels"] = labels,
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = "ray.io/v1",
                    ["kind"] = "RayJob",
                    ["name"] = rj["metadata"]!["name"]!.GetValue<string>(),
                    ["uid"] = rj["metadata"]!["uid"]!.GetValue<string>(),
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
            },
            ["spec"] = spec,
        });
    }

    /// <summary>What every mode sends Ray (dashboard_httpclient.go ConvertRayJobToReq; common/job.go for the CLI's flags).</summary>
    private void SubmitFromRayJob(string ns, string clusterName, JsonObject rj)
    {
        var spec = rj["spec"]!;
        var body = new JsonObject
        {
            ["entrypoint"] = spec["entrypoint"]?.GetValue<string>(),
            ["submission_id"] = rj["status"]?["jobId"]?.GetValue<string>() ?? spec["jobId"]?.GetValue<string>(),
        };
        if (spec["runtimeEnvYAML"]?.GetValue<string>() is { Length: > 0 } env) body["runtime_env"] = JsonNode.Parse(env);
        if (spec["metadata"] is JsonObject metadata) body["metadata"] = metadata.DeepClone();
        if (spec["entrypointNumCpus"] is JsonValue cpus) body["entrypoint_num_cpus"] = cpus.DeepClone();
        if (spec["entrypointNumGpus"] is JsonValue gpus) body["entrypoint_num_gpus"] = gpus.DeepClone();
        if (spec["entrypointResources"]?.GetValue<string>() is { Length: > 0 } resources) body["entrypoint_resources"] = JsonNode.Parse(resources);
        api.Dashboard(ns, clusterName).Submit(body);
    }

    private static JsonObject SubmitterPod(string ns, string rayJobName, JsonObject rj) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject
        {
            ["name"] = rayJobName + "-" + RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyz0123456789", 5),
            ["namespace"] = ns,
            ["labels"] = new JsonObject
            {
                ["job-name"] = rayJobName,
                ["batch.kubernetes.io/job-name"] = rayJobName,
                ["ray.io/originated-from-cr-name"] = rayJobName,
                ["ray.io/originated-from-crd"] = "RayJob",
            },
        },
        ["spec"] = new JsonObject
        {
            ["restartPolicy"] = "Never",
            ["containers"] = new JsonArray(new JsonObject
            {
                ["name"] = "ray-job-submitter",
                ["image"] = rj["spec"]!["rayClusterSpec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!["image"]!.GetValue<string>(),
            }),
        },
        ["status"] = new JsonObject { ["phase"] = "Running", ["startTime"] = Now },
    };

    /// <summary>The submitter runs <c>ray job logs --follow</c>: its log is the job's, and it ends with the job.</summary>
    private void UpdateSubmitter(string ns, string rayJobName, FakeRayDashboard.Job job)
    {
        foreach (var pod in api.List("pods", ns).Where(p => Label(p, "job-name") == rayJobName))
        {
            api.SetPodLog(ns, PodName(pod), $"Waiting for Ray Dashboard GCS to become healthy ...\n{job.Log}");
            if (job.Status is "SUCCEEDED" or "FAILED" or "STOPPED" && pod["status"]?["phase"]?.GetValue<string>() == "Running")
                api.Mutate("pods", ns, PodName(pod), p => p["status"]!["phase"] = job.Status == "SUCCEEDED" ? "Succeeded" : "Failed");
        }
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
