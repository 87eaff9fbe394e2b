using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>The pod templates of a RayCluster's head and worker groups, with the configured overlay.</summary>
public static partial class RayClusterManifest
{
    private static JsonObject PodTemplate(
        RayClusterManifestInput input, KubernetesProviderOptions options, string containerName, ProviderNodeGroup nodes,
        string cpu, string memory, string? env, string queue, bool head)
    {
        var request = input.Request;
        var labels = new JsonObject
        {
            [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue,
            [RayfleetLabels.Workspace] = request.WorkspaceId,
            [RayfleetLabels.Cluster] = request.ClusterId,
            [RayfleetLabels.Instance] = request.InstanceId,
            [RayfleetLabels.Queue] = LabelValue(queue),
        };
        var annotations = new JsonObject();
        var nodeSelector = new SortedDictionary<string, string>(StringComparer.Ordinal);

        if (request.NetworkService is { } network)
        {
            var overlay = Overlay(options, network);
            foreach (var (k, v) in overlay.Labels) labels[k] = v;
            foreach (var (k, v) in overlay.Annotations) annotations[k] = v;
            foreach (var (k, v) in overlay.NodeSelector) nodeSelector[k] = v;
        }

        var milliCpu = Quantity.ParseCpuMillis(cpu) ?? 0;
        var memoryBytes = Quantity.ParseMemoryBytes(memory) ?? 0;
        var cpuText = milliCpu % 1000 == 0 ? (milliCpu / 1000).ToString(CultureInfo.InvariantCulture) : milliCpu.ToString(CultureInfo.InvariantCulture) + "m";
        var memoryText = Quantity.FormatMemory(memoryBytes);
        var resources = new JsonObject
        {
            ["requests"] = new JsonObject { ["cpu"] = cpuText, ["memory"] = memoryText },
            ["limits"] = new JsonObject { ["cpu"] = cpuText, ["memory"] = memoryText },
        };

        JsonArray? tolerations = null;
        if (nodes.Gpu is { } gpu)
        {
            var count = gpu.GpusPerNode.ToString(CultureInfo.InvariantCulture);
            // KubeRay derives --num-gpus from a limit whose key ends in "gpu"; requests equal limits for extended resources.
            resources["limits"]![options.GpuResourceName] = count;
            resources["requests"]![options.GpuResourceName] = count;
            foreach (var (k, v) in gpu.NodeLabels) nodeSelector[k] = v;
            tolerations = [];
            foreach (var t in options.GpuTolerations)
            {
                var toleration = new JsonObject { ["operator"] = t.Operator };
                if (t.Key is not null) toleration["key"] = t.Key;
                if (t.Value is not null) toleration["value"] = t.Value;
                if (t.Effect is not null) toleration["effect"] = t.Effect;
                if (t.TolerationSeconds is { } s) toleration["tolerationSeconds"] = s;
                tolerations.Add(toleration);
            }
        }

        var container = new JsonObject
        {
            ["name"] = containerName,
            ["image"] = nodes.Release.Image,
            ["resources"] = resources,
        };
        if (head)
        {
            container["ports"] = new JsonArray
            {
                new JsonObject { ["name"] = "gcs-server", ["containerPort"] = 6379, ["protocol"] = "TCP" },
                new JsonObject { ["name"] = "dashboard", ["containerPort"] = 8265, ["protocol"] = "TCP" },
                new JsonObject { ["name"] = "client", ["containerPort"] = 10001, ["protocol"] = "TCP" },
            };
        }
        var envList = ClusterRules.ParseEnv(env);
        if (envList.Count > 0)
        {
            var array = new JsonArray();
            // A later line for the same name wins, as in a shell.
            foreach (var (k, v) in envList.GroupBy(e => e.Key, StringComparer.Ordinal).Select(g => g.Last()))
                array.Add(new JsonObject { ["name"] = k, ["value"] = v });
            container["env"] = array;
        }

        var podSpec = new JsonObject();
        if (request.Volumes.Count > 0)
        {
            var volumes = new JsonArray();
            var mounts = new JsonArray();
            foreach (var v in request.Volumes)
            {
                var volume = new JsonObject { ["name"] = v.VolumeId };
                if (v.Kind == "hostPath") volume["hostPath"] = new JsonObject { ["path"] = v.Source };
                else volume["persistentVolumeClaim"] = new JsonObject { ["claimName"] = v.Source };
                volumes.Add(volume);
                mounts.Add(new JsonObject { ["name"] = v.VolumeId, ["mountPath"] = v.MountPath });
            }
            podSpec["volumes"] = volumes;
            container["volumeMounts"] = mounts;
        }
        podSpec["containers"] = new JsonArray { container };
        if (nodeSelector.Count > 0) podSpec["nodeSelector"] = ToJson(nodeSelector);
        if (tolerations is not null) podSpec["tolerations"] = tolerations;

        var metadata = new JsonObject { ["labels"] = labels };
        if (annotations.Count > 0) metadata["annotations"] = annotations;
        return new JsonObject { ["metadata"] = metadata, ["spec"] = podSpec };
    }

    /// <summary>The configured overlay, with the named service's own entry merged over the default, placeholders filled.</summary>
    public static PodOverlayOptions Overlay(KubernetesProviderOptions options, ProviderNetworkService network)
    {
        string Fill(string template) => template
            .Replace("{networkServiceId}", network.NetworkServiceId, StringComparison.Ordinal)
            .Replace("{name}", network.Name, StringComparison.Ordinal)
            .Replace("{vpcId}", network.VpcId ?? "", StringComparison.Ordinal)
            .Replace("{vswitchIds}", string.Join(",", network.VswitchIds), StringComparison.Ordinal)
            .Replace("{securityGroupId}", network.SecurityGroupId ?? "", StringComparison.Ordinal);

        var result = new PodOverlayOptions();
        var layers = new List<PodOverlayOptions> { options.NetworkOverlay };
        if (options.NetworkServices.TryGetValue(network.Name, out var own)) layers.Add(own);
        foreach (var layer in layers)
        {
            foreach (var (k, v) in layer.Labels) result.Labels[k] = Fill(v);
            foreach (var (k, v) in layer.Annotations) result.Annotations[k] = Fill(v);
            foreach (var (k, v) in layer.NodeSelector) result.NodeSelector[k] = Fill(v);
        }
        // An empty value (a placeholder the network service leaves empty) removes the entry rather than setting "".
        foreach (var map in new[] { result.Labels, result.NodeSelector })
            foreach (var key in map.Where(kv => kv.Value.Length == 0).Select(kv => kv.Key).ToList()) map.Remove(key);
        return result;
    }
}
