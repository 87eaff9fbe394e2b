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
