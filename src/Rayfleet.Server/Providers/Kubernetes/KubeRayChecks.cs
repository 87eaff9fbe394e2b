using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// The checks KubeRay's operator runs at reconcile time and the CRD schema does not hold (kuberay.md §2.3), run on a
/// manifest before it is applied: a cluster that KubeRay would refuse gets a message now instead of an event later.
/// Each rule mirrors KubeRay v1.7.0 (ray-operator/controllers/ray/utils/validation.go unless named otherwise) and reads
/// what KubeRay reads: env rules look at the head's Ray container only. Rules a request decides on its own are also
/// applied at the API (<see cref="Rayfleet.Core.Clusters.KubeRayRules"/>); README, "What Rayfleet checks before KubeRay does".
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

    public static bool IsLabelKey(string key) =>
        LabelKey().IsMatch(key) && key.Split('/')[^1].Length <= 63 && (key.Contains('/', StringComparison.Ordinal) ? key.Split('/')[0].Length <= 253 : true);

    public static bool IsLabelValue(string value) => value.Length <= 63 && LabelValue().IsMatch(value);

    public static IReadOnlyList<string> Check(JsonObject manifest)
    {
        var problems = new List<string>();
        var metadata = manifest["metadata"] as JsonObject;
        var name = metadata?["name"]?.GetValue<string>() ?? "";
        // validation.go:32-40
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
        // IsAutoscalingV2Enabled (util.go:756): only what autoscalerOptions.version says, never inferred from rayVersion.
        var versionV2 = spec["autoscalerOptions"]?["version"]?.GetValue<string>() == "v2";
        var rayContainer = (spec["headGroupSpec"]?["template"]?["spec"]?["containers"] as JsonArray)?.FirstOrDefault() as JsonObject;
        // validateWorkerGroupIdleTimeout (validation.go:1006-1027) also takes the head's RAY_enable_autoscaler_v2 of "1" or "true".
        var idleTimeoutAllowed = versionV2 || (rayContainer?["env"] as JsonArray)?.OfType<JsonObject>()
            .FirstOrDefault(e => e["name"]?.GetValue<string>() == "RAY_enable_autoscaler_v2")?["value"]?.GetValue<string>() is "1" or "true";

        var ftAnnotation = metadata?["annotations"]?["ray.io/ft-enabled"]?.GetValue<string>() ?? "";
        // validation.go:153-156
        if (ftAnnotation.Length > 0 && gft)
            problems.Add("the ray.io/ft-enabled annotation cannot be combined with gcsFaultToleranceOptions.");
        // validation.go:183-186
        if (gft && (metadata?["annotations"]?["ray.io/external-storage-namespace"]?.GetValue<string>() ?? "").Length > 0)
            problems.Add("the ray.io/external-storage-namespace annotation cannot be combined with gcsFaultToleranceOptions.");

        var groups = new List<(string Path, JsonObject Group)>();
        var head = spec["headGroupSpec"] as JsonObject;
        if (head is not null) groups.Add(("headGroupSpec", head));
        else problems.Add("spec.headGroupSpec is required.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (spec["workerGroupSpecs"] is JsonArray workers)
        {
            for (var i = 0; i < workers.Count; i++)
            {
                if (workers[i] is not JsonObject group) continue;
                var path = $"workerGroupSpecs[{i}]";
                groups.Add((path, group));
                // The webhook's rule (pkg/webhooks/v1/raycluster_webhook.go:69-79); the CRD requires the field, not a value.
                var groupName = group["groupName"]?.GetValue<string>() ?? "";
                if (!seen.Add(groupName)) problems.Add($"{path}.groupName '{groupName}' is used by another group.");
                var min = group["minReplicas"].AsInt();
                var max = group["maxReplicas"].AsInt();
                // validation.go:125-138; replicas itself is not checked: KubeRay clamps it into [min, max].
                if (!autoscaling && (min is null || max is null)) problems.Add($"{path}: minReplicas and maxReplicas are required when autoscaling is off.");
                if (min < 0 || max < 0) problems.Add($"{path}: minReplicas and maxReplicas must not be negative.");
                if (min > max) problems.Add($"{path}: minReplicas ({min}) is greater than maxReplicas ({max}).");
                if (group["idleTimeoutSeconds"] is not null && !idleTimeoutAllowed)
                    problems.Add($"{path}.idleTimeoutSeconds needs autoscaler v2.");
                // validation.go:197-203 (only behind the RayJobDeletionPolicy gate, whose setting Rayfleet cannot see) and 214-220.
                if (group["suspend"]?.GetValue<bool>() == true)
                    problems.Add(autoscaling
                        ? $"{path}.suspend cannot be used with autoscaling."
                        : $"{path}.suspend needs KubeRay's RayJobDeletionPolicy feature gate.");
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
            // Not KubeRay's: the API server's rule for the pods' labels, which KubeRay copies from the template.
            CheckLabels(template!["metadata"]?["labels"] as JsonObject, $"{path}.template.metadata.labels", problems);
            var rayStart = group["rayStartParams"] as JsonObject;
            // validation.go:60-69: a parameter counts when its value is not empty.
            if (group["resources"] is JsonObject { Count: > 0 } && rayStart is not null && ResourceParams.Any(p => Text(rayStart[p]).Length > 0))
                problems.Add($"{path}: resources cannot be given both in rayStartParams and in resources.");
            // validation.go:72-100
            if (rayStart?.ContainsKey("labels") == true) problems.Add($"{path}.rayStartParams cannot set labels; use the group's labels.");
            CheckLabels(group["labels"] as JsonObject, $"{path}.labels", problems);
            // validation.go:224-236, inside the autoscaling branch.
            if (autoscaling && versionV2 && template["spec"]?["restartPolicy"]?.GetValue<string>() is { } policy && policy != "Never")
                problems.Add($"{path}: with autoscaler v2 the pod restartPolicy must be Never or unset, not {policy}.");
        }

        // KubeRay looks at the env of the head's Ray container (RayContainerIndex 0) only; workers may set anything.
        if (head?["template"]?["spec"]?["containers"] is JsonArray { Count: > 0 } headContainers && headContainers[0] is JsonObject headContainer)
            CheckHeadEnv(headContainer, head["rayStartParams"] as JsonObject, gft || ftAnnotation.Equals("true", StringComparison.OrdinalIgnoreCase), gft, autoscaling, autoscalerVersionSet, problems);
        // ValidateRayClusterStatus (validation.go:23-30) reads the status KubeRay writes; Rayfleet never writes one.
        return problems;
    }

    private static void CheckHeadEnv(JsonObject container, JsonObject? rayStart, bool ftEnabled, bool gftOptions, bool autoscaling, bool autoscalerVersionSet, List<string> problems)
    {
        var env = container["env"] as JsonArray ?? [];
        // EnvVarByName: the first entry of that name.
        JsonObject? Env(string n) => env.OfType<JsonObject>().FirstOrDefault(e => e["name"]?.GetValue<string>() == n);
        // validation.go:158-164
        if (!ftEnabled && Env("RAY_REDIS_ADDRESS") is not null)
            problems.Add("headGroupSpec: RAY_REDIS_ADDRESS is set without gcsFaultToleranceOptions.");
        if (gftOptions)
        {
            // validation.go:168-171, 173-176, 178-181
            if (Text(rayStart?["redis-password"]).Length > 0)
                problems.Add("headGroupSpec: a redis password in rayStartParams cannot be combined with gcsFaultToleranceOptions.");
            if (Env("REDIS_PASSWORD") is not null)
                problems.Add("headGroupSpec: REDIS_PASSWORD in env cannot be combined with gcsFaultToleranceOptions.");
            if (Env("RAY_REDIS_ADDRESS") is not null)
                problems.Add("headGroupSpec: RAY_REDIS_ADDRESS in env cannot be combined with gcsFaultToleranceOptions.");
        }
        // validation.go:192-195
        if (Text(rayStart?["redis-username"]).Length > 0 || Env("REDIS_USERNAME") is not null)
            problems.Add("headGroupSpec: a redis username in rayStartParams or env is refused; use gcsFaultToleranceOptions.redisUsername.");
        var v2 = Env("RAY_enable_autoscaler_v2");
        // validation.go:206-212: the value as written, "1" or "true".
        if (!autoscaling && Text(v2?["value"]) is "1" or "true")
            problems.Add("headGroupSpec: RAY_enable_autoscaler_v2 is set while autoscaling is off.");
        // validation.go:222-224: any value.
        if (autoscaling && autoscalerVersionSet && v2 is not null)
            problems.Add("headGroupSpec: RAY_enable_autoscaler_v2 cannot be combined with autoscalerOptions.version.");
    }

    /// <summary>
    /// The checks of KubeRay v1.7.0's <c>validateRayJob</c> (rayjob_controller.go:464-483: ValidateRayJobMetadata and
    /// ValidateRayJobSpec, validation.go:533-630) on a RayJob manifest, its <c>rayClusterSpec</c> checked as the
    /// RayCluster KubeRay makes of it (the RayJob's name plus six characters). A RayJob that fails them ends
    /// <c>ValidationFailed</c> and never runs. <see cref="Rayfleet.Core.Clusters.KubeRayRules.CheckJob"/> holds the ones a
    /// request decides at the API.
    /// </summary>
    public static IReadOnlyList<string> CheckJob(JsonObject rayJob)
    {
        var problems = new List<string>();
        var metadata = rayJob["metadata"] as JsonObject;
        var name = metadata?["name"]?.GetValue<string>() ?? "";
        // validation.go:533-541
        if (name.Length > RayJobManifest.MaxNameLength) problems.Add($"metadata.name '{name}' is longer than {RayJobManifest.MaxNameLength} characters.");
        if (!Dns1035Label().IsMatch(name)) problems.Add($"metadata.name '{name}' is not a DNS-1035 label.");
        if (rayJob["spec"] is not JsonObject spec)
        {
            problems.Add("spec is missing.");
            return problems;
        }
        var shutdown = spec["shutdownAfterJobFinishes"]?.GetValue<bool>() == true;
        var ttl = spec["ttlSecondsAfterFinished"]?.GetValue<int>() ?? 0;
        // validation.go:547-549, 551-553, 753-755
        if (spec["suspend"]?.GetValue<bool>() == true && !shutdown)
            problems.Add("a RayJob with shutdownAfterJobFinishes false cannot be suspended.");
        if (ttl < 0) problems.Add("ttlSecondsAfterFinished must not be negative.");
        if (ttl > 0 && !shutdown) problems.Add("ttlSecondsAfterFinished needs shutdownAfterJobFinishes.");
        var mode = spec["submissionMode"]?.GetValue<string>() ?? "K8sJobMode";
        if (!Rayfleet.Core.Clusters.KubeRayRules.SubmissionModes.Contains(mode, StringComparer.Ordinal))
            problems.Add($"submissionMode '{mode}' is not one KubeRay submits a job in by itself.");
        // validation.go:591-603
        if (mode == "SidecarMode" && spec["rayClusterSpec"]?["headGroupSpec"]?["template"]?["spec"]?["restartPolicy"]?.GetValue<string>() is { Length: > 0 } policy && policy != "Never")
            problems.Add("SidecarMode needs the head pod's restartPolicy Never or unset.");
        // validation.go:616-621
        if (spec["runtimeEnvYAML"]?.GetValue<string>() is { Length: > 0 } env && !IsJsonObject(env, numbers: false))
            problems.Add("runtimeEnvYAML does not read as a map.");
        if (spec["activeDeadlineSeconds"]?.GetValue<int>() is <= 0)
            problems.Add("activeDeadlineSeconds must be positive.");
        // dashboard_httpclient.go:374-377
        if (spec["entrypointResources"]?.GetValue<string>() is { Length: > 0 } resources && !IsJsonObject(resources, numbers: true))
            problems.Add("entrypointResources is not a JSON object of numbers.");
        if (spec["rayClusterSpec"] is not JsonObject clusterSpec)
        {
            // validation.go:564-566 (Rayfleet never uses clusterSelector).
            problems.Add("rayClusterSpec is missing.");
            return problems;
        }
        var cluster = new JsonObject
        {
            ["apiVersion"] = RayClusterManifest.ApiVersion,
            ["kind"] = RayClusterManifest.Kind,
            ["metadata"] = new JsonObject { ["name"] = name + "-abcde", ["labels"] = metadata?["labels"]?.DeepClone() },
            ["spec"] = clusterSpec.DeepClone(),
        };
        problems.AddRange(Check(cluster).Where(p => !p.StartsWith("metadata.name", StringComparison.Ordinal)));
        return problems;
    }

    private static bool IsJsonObject(string text, bool numbers)
    {
        try
        {
            return JsonNode.Parse(text) is JsonObject o && (!numbers || o.All(kv => kv.Value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number));
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static string Text(JsonNode? node) => node?.GetValue<string>() ?? "";

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
