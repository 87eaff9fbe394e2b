using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>Label and annotation keys Rayfleet puts on what it creates.</summary>
public static class RayfleetLabels
{
    public const string ManagedBy = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "rayfleet";
    public const string Workspace = "rayfleet.io/workspace-id";
    public const string Cluster = "rayfleet.io/cluster-id";
    public const string Instance = "rayfleet.io/instance-id";
    public const string Queue = "rayfleet.io/queue";
    public const string KueueQueue = "kueue.x-k8s.io/queue-name";
    /// <summary>Hash of everything that needs new pods to change (see <see cref="RayClusterManifest.PodShapeHash"/>).</summary>
    public const string PodShape = "rayfleet.io/pod-shape";
    public const string ClusterName = "rayfleet.io/cluster-name";

    // Set by KubeRay on the pods it creates.
    public const string RayCluster = "ray.io/cluster";
    public const string RayNodeType = "ray.io/node-type";
    public const string RayGroup = "ray.io/group";
}

/// <summary>What the manifest is built from, besides the request.</summary>
public sealed record RayClusterManifestInput(
    ProviderClusterRequest Request,
    string Namespace,
    /// <summary><c>spec.suspend</c>; null leaves it out, to whoever else decides it (Kueue admits a queued RayCluster by unsuspending it).</summary>
    bool? Suspend,
    /// <summary>Worker count per group as it goes into <c>replicas</c>; a group missing here gets its granted count.</summary>
    IReadOnlyDictionary<string, int>? Replicas = null);

/// <summary>
/// Pure mapping of a cluster's spec onto a KubeRay <c>RayCluster</c> (ray.io/v1), as a JSON object ready for
/// server-side apply. Nothing here talks to an API server, so every mapping is tested against the CRD schema.
/// </summary>
public static partial class RayClusterManifest
{
    public const string ApiVersion = "ray.io/v1";
    public const string Kind = "RayCluster";
    public const string HeadContainer = "ray-head";
    public const string WorkerContainer = "ray-worker";
    public const string RedisPasswordKey = "password";

    [GeneratedRegex("[^A-Za-z0-9_.-]", RegexOptions.CultureInvariant)]
    private static partial Regex LabelValueInvalid();

    [GeneratedRegex("[^a-z0-9-]", RegexOptions.CultureInvariant)]
    private static partial Regex DnsInvalid();

    /// <summary>The RayCluster of a cluster is named by the cluster id: <c>ray-</c> and 16 of [a-z0-9], within KubeRay's 53.</summary>
    public static string Name(string clusterId) => clusterId;

    public static string RedisSecretName(string clusterId) => clusterId + "-gcs-redis";

    public static string HeadServiceName(string clusterId) => clusterId + "-head-svc";

    /// <summary>Kubernetes names use the group's lower-case form (group names are unique ignoring case).</summary>
    public static string GroupName(string groupName) => groupName.ToLowerInvariant();

    /// <summary>A label value from free text: invalid characters become '-', at most 63, alphanumeric at both ends.</summary>
    public static string LabelValue(string text)
    {
        var value = LabelValueInvalid().Replace(text, "-");
        if (value.Length > 63) value = value[..63];
        return value.Trim('-', '_', '.');
    }

    /// <summary>A DNS-1123 label from a queue name, for Kueue's LocalQueue: <c>root_queue</c> becomes <c>root-queue</c>.</summary>
    public static string DnsLabel(string text)
    {
        var value = DnsInvalid().Replace(text.ToLowerInvariant(), "-");
        if (value.Length > 63) value = value[..63];
        return value.Trim('-');
    }

    public static JsonObject Build(RayClusterManifestInput input, KubernetesProviderOptions options)
    {
        var request = input.Request;
        var manifest = new JsonObject
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = Kind,
            ["metadata"] = Metadata(request, input.Namespace, options),
            ["spec"] = Spec(input, options),
        };
        manifest["metadata"]!["annotations"]![RayfleetLabels.PodShape] = PodShapeHash(manifest);
        return manifest;
    }

    /// <summary>
    /// The metadata Rayfleet puts on what it applies for a cluster (a RayCluster, or the RayJob of a job-mode cluster):
    /// name, namespace, Rayfleet's labels (what the watch, the resync and the instance lookups select on) and the
    /// cluster's display name.
    /// </summary>
    public static JsonObject Metadata(ProviderClusterRequest request, string ns, KubernetesProviderOptions options)
    {
        var labels = new JsonObject
        {
            [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue,
            [RayfleetLabels.Workspace] = request.WorkspaceId,
            [RayfleetLabels.Cluster] = request.ClusterId,
            [RayfleetLabels.Instance] = request.InstanceId,
            [RayfleetLabels.Queue] = LabelValue(request.Spec.Head.QueueName),
        };
        if (options.KueueQueueLabel) labels[RayfleetLabels.KueueQueue] = DnsLabel(request.Spec.Head.QueueName);
        return new JsonObject
        {
            ["name"] = Name(request.ClusterId),
            ["namespace"] = ns,
            ["labels"] = labels,
            ["annotations"] = new JsonObject { [RayfleetLabels.ClusterName] = request.Spec.Name },
        };
    }

    /// <summary>
    /// The RayClusterSpec of a cluster: the <c>spec</c> of its RayCluster, and the <c>spec.rayClusterSpec</c> of the
    /// RayJob of a job-mode cluster, built by this one method so that the two cannot drift apart.
    /// </summary>
    public static JsonObject Spec(RayClusterManifestInput input, KubernetesProviderOptions options)
    {
        var request = input.Request;
        var spec = request.Spec;

        var gft = spec.Head.GftEnabled == true && spec.Head.GftConfig?.RedisUrl is { Length: > 0 };
        var rayStartHead = RayStartParams(spec.Head.RayStartParams, spec.Head.Cpu);
        rayStartHead.TryAdd("dashboard-host", "0.0.0.0");

        var headTemplate = PodTemplate(input, options, HeadContainer, request.Head, spec.Head.Cpu, spec.Head.Memory, spec.Head.Env, spec.Head.QueueName, head: true);
        var clusterSpec = new JsonObject
        {
            ["rayVersion"] = request.Release.RayVersion,
        };
        if (input.Suspend is { } suspend) clusterSpec["suspend"] = suspend;
        clusterSpec["enableInTreeAutoscaling"] = spec.Head.EnableAutoScaling;
        if (spec.Head.EnableAutoScaling) clusterSpec["autoscalerOptions"] = AutoscalerOptions(request, options);
        if (gft)
        {
            var ft = new JsonObject { ["redisAddress"] = spec.Head.GftConfig!.RedisUrl };
            if (spec.Head.GftConfig.RedisUsername is { Length: > 0 } user) ft["redisUsername"] = new JsonObject { ["value"] = user };
            // Never the password itself: a reference to the Secret the provider keeps beside the RayCluster.
            if (spec.Head.GftConfig.RedisPassword is { Length: > 0 })
                ft["redisPassword"] = new JsonObject
                {
                    ["valueFrom"] = new JsonObject
                    {
                        ["secretKeyRef"] = new JsonObject { ["name"] = RedisSecretName(request.ClusterId), ["key"] = RedisPasswordKey },
                    },
                };
            clusterSpec["gcsFaultToleranceOptions"] = ft;
        }
        clusterSpec["headGroupSpec"] = new JsonObject
        {
            ["serviceType"] = "ClusterIP",
            ["rayStartParams"] = ToJson(rayStartHead),
            ["template"] = headTemplate,
        };

        var groups = new JsonArray();
        foreach (var group in spec.Workers)
        {
            var granted = request.Replicas.TryGetValue(group.GroupName, out var g) ? g : spec.TargetReplicas(group);
            var replicas = input.Replicas is not null && input.Replicas.TryGetValue(group.GroupName, out var r) ? r : granted;
            groups.Add(new JsonObject
            {
                ["groupName"] = GroupName(group.GroupName),
                ["replicas"] = replicas,
                ["minReplicas"] = Math.Min(group.MinReplica, replicas),
                ["maxReplicas"] = Math.Max(group.MaxReplica, replicas),
                ["rayStartParams"] = ToJson(RayStartParams(group.RayStartParams, group.Cpu)),
                ["template"] = PodTemplate(input, options, WorkerContainer, request.NodesOf(group.GroupName), group.Cpu, group.Memory, group.Env, group.QueueName, head: false),
            });
        }
        clusterSpec["workerGroupSpecs"] = groups;
        return clusterSpec;
    }

    /// <summary>The first Ray version whose autoscaler Rayfleet runs as v2 (the one KubeRay's docs recommend from then on).</summary>
    public static readonly Version AutoscalerV2Since = new(2, 47, 0);

    /// <summary>
    /// <c>v2</c> when the head runs Ray <see cref="AutoscalerV2Since"/> or later, else <c>v1</c>. Said explicitly: KubeRay
    /// infers nothing from <c>rayVersion</c>; only <c>autoscalerOptions.version: v2</c> makes it set the autoscaler's v2
    /// environment and <c>restartPolicy: Never</c> (KubeRay v1.7.0 <c>utils/util.go</c> ~756, <c>common/pod.go</c>
    /// ~278–283, ~698) and allow a group's own <c>idleTimeoutSeconds</c> (<c>utils/validation.go</c> ~1006–1027).
    /// A version Rayfleet cannot read gets v1, which every Ray release KubeRay supports runs.
    /// </summary>
    public static string AutoscalerVersion(string rayVersion)
    {
        var parts = rayVersion.Split('.');
        static int? Number(string part)
        {
            var digits = new string([.. part.TakeWhile(char.IsAsciiDigit)]);
            return digits.Length is > 0 and <= 9 ? int.Parse(digits, CultureInfo.InvariantCulture) : null;
        }
        if (parts.Length < 2 || Number(parts[0]) is not { } major || Number(parts[1]) is not { } minor) return "v1";
        var patch = parts.Length > 2 ? Number(parts[2]) ?? 0 : 0;
        return new Version(major, minor, patch) >= AutoscalerV2Since ? "v2" : "v1";
    }

    /// <summary>
    /// The autoscaler's options: its version (left out only when the head's env sets <c>RAY_enable_autoscaler_v2</c>
    /// itself, which KubeRay refuses together with a version, <c>utils/validation.go</c> ~222), the cluster-wide idle
    /// timeout, and the sidecar's resources with requests equal to limits, the same the head's queue demand counts
    /// (KubeRay's default is 500m and 512Mi, <c>common/pod.go</c> ~989–998; set here so the two cannot drift apart).
    /// </summary>
    private static JsonObject AutoscalerOptions(ProviderClusterRequest request, KubernetesProviderOptions options)
    {
        var autoscaler = new JsonObject();
        var userPinned = ClusterRules.ParseEnv(request.Spec.Head.Env).Any(e => e.Key == "RAY_enable_autoscaler_v2");
        if (!userPinned) autoscaler["version"] = AutoscalerVersion(request.Head.Release.RayVersion);
        autoscaler["idleTimeoutSeconds"] = request.Spec.Head.IdleTimeoutSeconds;
        autoscaler["upscalingMode"] = "Default";
        var footprint = options.AutoscalerFootprint;
        var cpu = CpuText(footprint.MilliCpu);
        var memory = Quantity.FormatMemory(footprint.MemoryBytes);
        autoscaler["resources"] = new JsonObject
        {
            ["requests"] = new JsonObject { ["cpu"] = cpu, ["memory"] = memory },
            ["limits"] = new JsonObject { ["cpu"] = cpu, ["memory"] = memory },
        };
        return autoscaler;
    }

    private static string CpuText(long milliCpu) =>
        milliCpu % 1000 == 0 ? (milliCpu / 1000).ToString(CultureInfo.InvariantCulture) : milliCpu.ToString(CultureInfo.InvariantCulture) + "m";

    /// <summary>
    /// A hash of what only new pods pick up: everything in the spec except replica counts, suspend and the instance
    /// label. Two manifests with the same hash can share a suspended RayCluster across a Stop and Start.
    /// </summary>
    public static string PodShapeHash(JsonObject manifest)
    {
        var spec = manifest["spec"]!.DeepClone().AsObject();
        spec.Remove("suspend");
        if (spec["workerGroupSpecs"] is JsonArray groups)
            foreach (var group in groups.OfType<JsonObject>())
            {
                group.Remove("replicas");
                group.Remove("minReplicas");
                group.Remove("maxReplicas");
                group.Remove("scaleStrategy");
            }
        foreach (var template in Templates(spec))
            (template["metadata"]?["labels"] as JsonObject)?.Remove(RayfleetLabels.Instance);
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(spec.ToJsonString()));
        return Convert.ToHexStringLower(bytes)[..16];
    }

    /// <summary>The pod templates of a RayCluster spec: head first, then each worker group's.</summary>
    public static IEnumerable<JsonObject> Templates(JsonObject spec)
    {
        if (spec["headGroupSpec"]?["template"] is JsonObject head) yield return head;
        if (spec["workerGroupSpecs"] is JsonArray groups)
            foreach (var group in groups.OfType<JsonObject>())
                if (group["template"] is JsonObject t) yield return t;
    }

    /// <summary>
    /// The KubeRay <c>rayStartParams</c> map of a group: KubeRay turns it into <c>ray start --name=value ...</c> run by
    /// <c>/bin/bash -c</c> (pod.go ~1518 convertParamMap, util.go ~1005 GetContainerCommand); each entry is written so
    /// that bash hands <c>ray start</c> exactly the argv the local provider passes. <c>--num-cpus=4 --disable-usage-stats</c>
    /// becomes <c>{"disable-usage-stats": "true", "num-cpus": "4"}</c>, <c>--resources='{"x": 1}'</c> becomes
    /// <c>{"resources": "'{\"x\": 1}'"}</c>.
    /// </summary>
    public static SortedDictionary<string, string> RayStartParams(string? parameters, string cpu)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        // A switch given as false was left out by the parser; convertParamMap renders "true" as a bare --name.
        foreach (var option in RayStartOptions.Parse(parameters).Options)
            map[option.Name] = option.Value is null ? "true" : KubeRayValue(option.Name, option.Value);
        // KubeRay would derive num-cpus from the CPU limit with Quantity.Value(), which rounds up (pod.go ~1394-1397):
        // a 500m node would advertise 1 CPU while the queue accounts 0.5. Rayfleet says it, rounded down, as the local
        // provider does.
        map.TryAdd("num-cpus", RayStartOptions.WholeCores(Quantity.ParseCpuMillis(cpu) ?? 0).ToString(CultureInfo.InvariantCulture));
        return map;
    }

    // convertParamMap (pod.go ~1530-1533) keeps "false" only for these; any other "true"/"false" becomes a bare switch or nothing.
    private static readonly HashSet<string> ExplicitBooleanFlags = new(StringComparer.Ordinal) { "log-color", "include-dashboard", "include-log-monitor" };

    /// <summary>
    /// A value as it must stand after <c>--name=</c> in KubeRay's bash command line: as it is when bash leaves it alone
    /// and convertParamMap would not take it for a switch, else single-quoted, which bash undoes.
    /// </summary>
    public static string KubeRayValue(string name, string value)
    {
        // `--name=` with nothing after it is already an empty argument to bash, and KubeRay copies a head's redis-password
        // from the map into REDIS_PASSWORD as it stands (pod.go ~167): quotes there would become part of the password.
        if (value.Length == 0) return value;
        var boolean = value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("false", StringComparison.OrdinalIgnoreCase);
        if (RayStartOptions.IsPlainWord(value) && (!boolean || ExplicitBooleanFlags.Contains(name))) return value;
        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    private static JsonObject ToJson(IEnumerable<KeyValuePair<string, string>> map)
    {
        var o = new JsonObject();
        foreach (var (k, v) in map) o[k] = v;
        return o;
    }
}
