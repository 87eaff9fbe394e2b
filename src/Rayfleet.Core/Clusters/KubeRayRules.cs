using System.Text.Json;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>
/// The checks of KubeRay v1.7.0's <c>ValidateRayClusterSpec</c> (ray-operator/controllers/ray/utils/validation.go) that
/// a request decides on its own, run at Create and Update of a cluster in a kubernetes workspace: a cluster KubeRay
/// would leave unreconciled (it only records a warning event) is refused with a message now. Each rule reads exactly
/// what KubeRay reads: the head container's env, the <c>rayStartParams</c> map and whether the RayCluster will carry
/// <c>gcsFaultToleranceOptions</c>, as the manifest sets them. README, "What Rayfleet checks before KubeRay does".
/// </summary>
public static class KubeRayRules
{
    public const string RayRedisAddress = "RAY_REDIS_ADDRESS";
    public const string RedisPassword = "REDIS_PASSWORD";
    public const string RedisUsername = "REDIS_USERNAME";
    public const string EnableAutoscalerV2 = "RAY_enable_autoscaler_v2";

    public static IReadOnlyList<Problem> Check(RayClusterRequest request)
    {
        var problems = new List<Problem>();
        if (request.HeadSpec is { } head)
        {
            const string envField = "headSpec.env", paramsField = "headSpec.rayStartParams";
            var env = EnvMap(head.Env);
            var rayStart = RayStartParamMap(head.RayStartParams);
            // The manifest sets gcsFaultToleranceOptions exactly when this holds.
            var gft = head.GftEnabled == true && !string.IsNullOrEmpty(head.GftConfig?.RedisUrl);
            var autoscaling = head.EnableAutoScaling == true;

            CheckLabels(rayStart, paramsField, problems);
            // validation.go:158-164: the env var alone would turn fault tolerance on behind KubeRay's back.
            if (!gft && env.ContainsKey(RayRedisAddress))
                problems.Add(Rule(envField, $"{RayRedisAddress} turns on GCS fault tolerance; use gftEnabled and gftConfig.redisUrl instead (KubeRay validation.go:158-164)"));
            if (gft)
            {
                // validation.go:168-171: KubeRay tests the value, so an empty --redis-password= passes.
                if (rayStart.TryGetValue("redis-password", out var password) && password.Length > 0)
                    problems.Add(Rule(paramsField, "--redis-password cannot be set with gftEnabled; use gftConfig.redisPassword (KubeRay validation.go:168-171)"));
                if (env.ContainsKey(RedisPassword))
                    problems.Add(Rule(envField, $"{RedisPassword} cannot be set with gftEnabled; use gftConfig.redisPassword (KubeRay validation.go:173-176)"));
                if (env.ContainsKey(RayRedisAddress))
                    problems.Add(Rule(envField, $"{RayRedisAddress} cannot be set with gftEnabled; use gftConfig.redisUrl (KubeRay validation.go:178-181)"));
            }
            // validation.go:192-195: with or without fault tolerance.
            if (rayStart.TryGetValue("redis-username", out var user) && user.Length > 0)
                problems.Add(Rule(paramsField, "--redis-username cannot be set; use gftConfig.redisUsername (KubeRay validation.go:192-195)"));
            if (env.ContainsKey(RedisUsername))
                problems.Add(Rule(envField, $"{RedisUsername} cannot be set; use gftConfig.redisUsername (KubeRay validation.go:192-195)"));
            // validation.go:206-212: KubeRay compares the value as written, so "True" or "yes" pass.
            if (!autoscaling && env.TryGetValue(EnableAutoscalerV2, out var v2) && v2 is "1" or "true")
                problems.Add(Rule(envField, $"{EnableAutoscalerV2}={v2} needs enableAutoScaling (KubeRay validation.go:206-212)"));
        }
        if (request.WorkerSpec is { } workers)
            for (var i = 0; i < Math.Min(workers.Count, ClusterRules.MaxWorkerGroups); i++)
                if (workers[i] is { } group)
                    CheckLabels(RayStartParamMap(group.RayStartParams), $"workerSpec[{i}].rayStartParams", problems);
        return problems;
    }

    /// <summary>KubeRay's <c>submissionMode</c> values (rayjob_types.go:80-87) that carry a job's entrypoint on their own.</summary>
    public static readonly IReadOnlyList<string> SubmissionModes = ["K8sJobMode", "HTTPMode", "SidecarMode"];

    /// <summary>
    /// The checks KubeRay v1.7.0 runs on a RayJob (<c>ValidateRayJobSpec</c>, validation.go:543-630, and what the
    /// controller does with the fields), for a job submitted without a <c>clusterId</c> in a kubernetes workspace: its
    /// cluster is a RayJob carrying these fields, and a RayJob KubeRay refuses ends <c>ValidationFailed</c> without
    /// ever running. Run beside <see cref="Check"/> of the job's <c>headSpec</c>/<c>workerSpec</c>. Field names are the
    /// wire names of SubmitRayJob; a null value is one the request left out.
    /// </summary>
    public static IReadOnlyList<Problem> CheckJob(
        string? submissionMode, bool shutdownAfterJobFinishes, long? ttlSecondsAfterFinished, long? activeDeadlineSeconds,
        string? entrypointMemory, string? entrypointResources, string? runtimeEnvJson)
    {
        var problems = new List<Problem>();
        if (!string.IsNullOrEmpty(submissionMode) && !SubmissionModes.Contains(submissionMode, StringComparer.Ordinal))
        {
            // The CRD has no enum: KubeRay takes any text, and a mode it does not know submits nothing, so the RayJob
            // waits forever (rayjob_controller.go:225-237, 305-318). InteractiveMode waits for someone else's submit.
            problems.Add(Rule("submissionMode", submissionMode == "InteractiveMode"
                ? "InteractiveMode is not supported: KubeRay would wait for someone else to submit the job; use K8sJobMode, HTTPMode or SidecarMode"
                : $"must be one of {string.Join(", ", SubmissionModes)} (KubeRay rayjob_types.go:80-87)"));
        }
        // validation.go:551-553 and 753-755.
        if (ttlSecondsAfterFinished < 0)
            problems.Add(Rule("ttlSecondsAfterFinished", "must not be negative (KubeRay validation.go:551-553)"));
        else if (ttlSecondsAfterFinished > 0 && !shutdownAfterJobFinishes)
            problems.Add(Rule("ttlSecondsAfterFinished", "needs shutdownAfterJobFinishes: true (KubeRay validation.go:753-755)"));
        if (ttlSecondsAfterFinished > int.MaxValue)
            problems.Add(Rule("ttlSecondsAfterFinished", "must fit in an int32 (the RayJob CRD's format)"));
        // validation.go:619-621
        if (activeDeadlineSeconds <= 0)
            problems.Add(Rule("activeDeadlineSeconds", "must be a positive number of seconds (KubeRay validation.go:619-621)"));
        else if (activeDeadlineSeconds > int.MaxValue)
            problems.Add(Rule("activeDeadlineSeconds", "must fit in an int32 (the RayJob CRD's format)"));
        if (!string.IsNullOrEmpty(entrypointMemory))
            problems.Add(Rule("entrypointMemory", "cannot be carried by a KubeRay RayJob (its spec has entrypointNumCpus, entrypointNumGpus and entrypointResources only); leave it out, or submit to an existing cluster"));
        // dashboard_httpclient.go:374-377 reads it into a map of numbers; anything else fails every submit.
        if (!string.IsNullOrEmpty(entrypointResources) && !IsObjectOf(entrypointResources, JsonValueKind.Number))
            problems.Add(Rule("entrypointResources", "must be a JSON object of resource names to numbers, such as {\"fpu\": 1} (KubeRay dashboard_httpclient.go:374-377)"));
        // validation.go:616-618: runtimeEnvYAML must read as a map; JSON is YAML.
        if (!string.IsNullOrEmpty(runtimeEnvJson) && !IsObjectOf(runtimeEnvJson, null))
            problems.Add(Rule("runtimeEnvJson", "must be a JSON object (KubeRay validation.go:616-618 reads runtimeEnvYAML as a map)"));
        return problems;
    }

    private static bool IsObjectOf(string json, JsonValueKind? valueKind)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                   && (valueKind is not { } kind || doc.RootElement.EnumerateObject().All(p => p.Value.ValueKind == kind));
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>validation.go:73-75: the key alone is refused, whatever its value.</summary>
    private static void CheckLabels(IReadOnlyDictionary<string, string> rayStart, string field, List<Problem> problems)
    {
        if (rayStart.ContainsKey("labels"))
            problems.Add(Rule(field, "--labels is not supported on Kubernetes (KubeRay validation.go:73-75)"));
    }

    /// <summary>
    /// The names and values of <c>rayStartParams</c> as the RayCluster carries them (<see cref="RayStartOptions"/>): a
    /// switch is <c>"true"</c>, a switch given as false is absent. Text that does not parse has no map; the cluster rules
    /// report it.
    /// </summary>
    public static IReadOnlyDictionary<string, string> RayStartParamMap(string? parameters) =>
        RayStartOptions.TryParse(parameters, int.MaxValue, out var options, out _)
            ? options.Options.ToDictionary(o => o.Name, o => o.Value ?? "true", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The head container's env as the manifest writes it: one entry per name, the later line winning.</summary>
    private static Dictionary<string, string> EnvMap(string? env)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in ClusterRules.ParseEnv(env)) map[name] = value;
        return map;
    }

    private static Problem Rule(string field, string rule) => ClusterRules.Invalid(field, rule);
}
