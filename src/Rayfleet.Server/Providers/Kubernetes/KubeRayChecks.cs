using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// The checks KubeRay's operator runs at reconcile time and the CRD schema does not hold (kuberay.md §2.3), run on a
/// manifest before it is applied: a cluster that KubeRay would refuse gets a message now instead of an event later.
/// </summary>
public static partial class KubeRayChecks
{
    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1035Label();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex LabelValue();

    [GeneratedRegex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex LabelKey();

    private static readonly string[] ResourceParams = ["num-cpus", "num-gpus", "memory", "resources"];
    private static readonly string[] PasswordEnv = ["REDIS_PASSWORD", "RAY_REDIS_PASSWORD"];

    public static bool IsLabelKey(string key) =>
        LabelKey().IsMatch(key) && key.Split('/')[^1].Length <= 63 && (key.Contains('/', StringComparison.Ordinal) ? key.Split('/')[0].Length <= 253 : true);

    public static bool IsLabelValue(string value) => value.Length <= 63 && LabelValue().IsMatch(value);

    public static IReadOnlyList<string> Check(JsonObject manifest)
    {
        var problems = new List<string>();
        var metadata = manifest["metadata"] as JsonObject;
        var name = metadata?["name"]?.GetValue<string>() ?? "";
        if (name.Length > 53) problems.Add($"metadata.name '{name}' is longer than 53 characters.");
        if (!Dns1035Label().IsMatch(name)) problems.Add($"metadata.name '{name}' is not a DNS-1035 label.");
        CheckLabels(metadata?["labels"] as JsonObject, "metadata.labels", problems);

        if (manifest["spec"] is not JsonObject spec)
        {
            problems.Add("spec is missing.");
            return problems;
        }
        var autoscaling = spec["enableInTreeAutoscaling"]?.GetValue<bool>() == true;
        var autoscalerVersionSet = spec["autoscalerOptions"]?["version"] is not null;
        var gft = spec["gcsFaultToleranceOptions"] is JsonObject;
        var rayVersion = spec["rayVersion"]?.GetValue<string>();
        // From Ray 2.47.0 the autoscaler is v2 unless pinned (kuberay.md §2.1).
        var autoscalerV2 = autoscaling && (spec["autoscalerOptions"]?["version"]?.GetValue<string>() == "v2"
                                           || (!autoscalerVersionSet && Version.TryParse(rayVersion, out var v) && v >= new Version(2, 47, 0)));

        if (metadata?["annotations"]?["ray.io/ft-enabled"] is not null && gft)
            problems.Add("the ray.io/ft-enabled annotation cannot be combined with gcsFaultToleranceOptions.");
        if (gft && string.IsNullOrEmpty(spec["gcsFaultToleranceOptions"]?["redisAddress"]?.GetValue<string>()))
            problems.Add("gcsFaultToleranceOptions.redisAddress is required.");

        var groups = new List<(string Path, JsonObject Group)>();
        if (spec["headGroupSpec"] is JsonObject head) groups.Add(("headGroupSpec", head));
        else problems.Add("spec.headGroupSpec is required.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (spec["workerGroupSpecs"] is JsonArray workers)
        {
            for (var i = 0; i < workers.Count; i++)
            {
                if (workers[i] is not JsonObject group) continue;
                var path = $"workerGroupSpecs[{i}]";
                groups.Add((path, group));
                var groupName = group["groupName"]?.GetValue<string>() ?? "";
                if (groupName.Length == 0) problems.Add($"{path}.groupName is required.");
                else if (!seen.Add(groupName)) problems.Add($"{path}.groupName '{groupName}' is used by another group.");
                var replicas = group["replicas"].AsInt();
                var min = group["minReplicas"].AsInt();
                var max = group["maxReplicas"].AsInt();
                if (!autoscaling && (min is null || max is null)) problems.Add($"{path}: minReplicas and maxReplicas are required when autoscaling is off.");
                if (min < 0 || max < 0 || replicas < 0) problems.Add($"{path}: replica counts must not be negative.");
                if (min > max) problems.Add($"{path}: minReplicas ({min}) is greater than maxReplicas ({max}).");
                if (replicas is { } r && (r < (min ?? 0) || r > (max ?? int.MaxValue)))
                    problems.Add($"{path}: replicas ({r}) is outside [minReplicas, maxReplicas].");
                if (group["idleTimeoutSeconds"] is not null && !autoscalerV2)
                    problems.Add($"{path}.idleTimeoutSeconds needs autoscaler v2.");
                if (group["suspend"]?.GetValue<bool>() == true && autoscaling)
                    problems.Add($"{path}.suspend cannot be used with autoscaling.");
            }
        }

        foreach (var (path, group) in groups)
        {
            var template = group["template"] as JsonObject;
            var containers = template?["spec"]?["containers"] as JsonArray;
            if (containers is null || containers.Count == 0)
            {
                problems.Add($"{path}.template needs at least one container.");
                continue;
            }
            CheckLabels(template!["metadata"]?["labels"] as JsonObject, $"{path}.template.metadata.labels", problems);
            var rayStart = group["rayStartParams"] as JsonObject;
            if (group["resources"] is JsonObject && rayStart is not null && ResourceParams.Any(p => rayStart.ContainsKey(p)))
                problems.Add($"{path}: resources cannot be given both in rayStartParams and in resources.");
            if (rayStart?.ContainsKey("labels") == true) problems.Add($"{path}.rayStartParams cannot set labels; use the group's labels.");
            if (autoscalerV2 && template["spec"]?["restartPolicy"]?.GetValue<string>() is { } policy && policy != "Never")
                problems.Add($"{path}: with autoscaler v2 the pod restartPolicy must be Never or unset, not {policy}.");

            var env = containers[0]?["env"] as JsonArray ?? [];
            string? Env(string n) => env.OfType<JsonObject>().FirstOrDefault(e => e["name"]?.GetValue<string>() == n)?["value"]?.GetValue<string>();
            if (string.Equals(Env("RAY_enable_autoscaler_v2"), "true", StringComparison.OrdinalIgnoreCase) || Env("RAY_enable_autoscaler_v2") == "1")
            {
                if (!autoscaling) problems.Add($"{path}: RAY_enable_autoscaler_v2 is set while autoscaling is off.");
                else if (autoscalerVersionSet) problems.Add($"{path}: RAY_enable_autoscaler_v2 cannot be combined with autoscalerOptions.version.");
            }
            if (Env("RAY_REDIS_ADDRESS") is not null && !gft)
                problems.Add($"{path}: RAY_REDIS_ADDRESS is set without gcsFaultToleranceOptions.");
            if (gft)
            {
                if (rayStart?.ContainsKey("redis-password") == true)
                    problems.Add($"{path}: a redis password in rayStartParams cannot be combined with gcsFaultToleranceOptions.");
                foreach (var p in PasswordEnv)
                    if (env.OfType<JsonObject>().Any(e => e["name"]?.GetValue<string>() == p))
                        problems.Add($"{path}: {p} in env cannot be combined with gcsFaultToleranceOptions.");
            }
        }

        var conditions = manifest["status"]?["conditions"] as JsonArray;
        if (conditions is not null && IsTrue(conditions, "RayClusterSuspending") && IsTrue(conditions, "RayClusterSuspended"))
            problems.Add("status: RayClusterSuspending and RayClusterSuspended are both true.");
        return problems;
    }

    private static bool IsTrue(JsonArray conditions, string type) =>
        conditions.OfType<JsonObject>().Any(c => c["type"]?.GetValue<string>() == type && c["status"]?.GetValue<string>() == "True");

    private static void CheckLabels(JsonObject? labels, string path, List<string> problems)
    {
        if (labels is null) return;
        foreach (var (key, value) in labels)
        {
            if (!IsLabelKey(key)) problems.Add($"{path}: '{key}' is not a valid label key.");
            var text = value?.GetValue<string>() ?? "";
            if (!IsLabelValue(text)) problems.Add($"{path}: the value '{text}' of '{key}' is not a valid label value.");
        }
    }
}
