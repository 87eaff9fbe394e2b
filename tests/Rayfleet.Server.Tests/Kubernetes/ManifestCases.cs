using System.Collections.Immutable;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>Specs covering every mapping of the manifest builder, and what they are built with.</summary>
public static class ManifestCases
{
    public const string WorkspaceId = "w-0123456789abcdef";
    public const string ClusterId = "ray-abcdefgh01234567";
    public const string InstanceId = ClusterId + "-inst0001";
    public const string Namespace = "rayfleet-" + WorkspaceId;

    public static readonly ReleaseVersion Release = new("ray-1.2.0 (Ray 2.55.1, Python 3.12)", "2.55.1", "3.12", "rayproject/ray:2.55.1-py312", "ray", "ONLINE", "stable", true);
    public static readonly ReleaseVersion OldRelease = new("ray-1.0.0 (Ray 2.47.1, Python 3.12)", "2.47.1", "3.12", "rayproject/ray:2.47.1-py312", "ray", "ONLINE", "stable", false);

    public static readonly IReadOnlyDictionary<string, GpuTypeOptions> GpuTypes = new Dictionary<string, GpuTypeOptions>(StringComparer.Ordinal)
    {
        ["ecs.gn6i-c4g1.xlarge"] = new()
        {
            InstanceType = "ecs.gn6i-c4g1.xlarge", Cpu = "4", Memory = "15Gi", GpuCount = 1, GpuModel = "NVIDIA T4",
            NodeLabels = new() { ["node.kubernetes.io/instance-type"] = "ecs.gn6i-c4g1.xlarge", ["nvidia.com/gpu.product"] = "Tesla-T4" },
        },
        ["ecs.gn7i-2x"] = new()
        {
            InstanceType = "ecs.gn7i-2x", Cpu = "16", Memory = "60Gi", GpuCount = 2, GpuModel = "NVIDIA A10",
            NodeLabels = new() { ["nvidia.com/gpu.product"] = "NVIDIA-A10" },
        },
    };

    /// <summary>The catalogues the reconciler would resolve these cases' requests with.</summary>
    public static readonly Catalogs CaseCatalogs = new(Options.Create(new RayfleetOptions
    {
        ReleaseVersions = [.. new[] { Release, OldRelease }.Select(r => new ReleaseVersionOptions
        {
            DisplayReleaseVersion = r.DisplayReleaseVersion, RayVersion = r.RayVersion, PythonVersion = r.PythonVersion, Image = r.Image,
            RayCommand = r.RayCommand, State = r.State, Type = r.Type, IsDefault = r.IsDefault,
        })],
        GpuTypes = [.. GpuTypes.Values],
    }));

    /// <summary>A request as the reconciler resolves it: each group's release and GPU type, the password decrypted with <paramref name="protection"/>.</summary>
    public static ProviderClusterRequest Resolved(
        string clusterId, string instanceId, ClusterSpec spec, IReadOnlyDictionary<string, int>? replicas = null, ReleaseVersion? release = null,
        IDataProtectionProvider? protection = null)
    {
        release ??= Release;
        var (head, groups) = ProviderRequestBuilder.Nodes(spec, release, CaseCatalogs);
        return new(WorkspaceId, clusterId, instanceId, spec,
            replicas ?? spec.Workers.ToDictionary(g => g.GroupName, g => spec.TargetReplicas(g), StringComparer.Ordinal), release)
        {
            Head = head,
            Groups = groups,
            RedisPassword = protection is null ? null : ProviderRequestBuilder.RedisPassword(spec, protection),
        };
    }

    public static ClusterSpec Minimal => new()
    {
        Name = "minimal",
        DisplayReleaseVersion = Release.DisplayReleaseVersion,
        Head = new HeadGroupSpec { Cpu = "2", Memory = "8Gi", QueueName = "root_queue" },
    };

    public static ClusterSpec TwoGroups => Minimal with
    {
        Name = "two groups",
        Workers =
        [
            new WorkerGroupSpec { GroupName = "WorkerGroup1", Replica = 2, MinReplica = 1, MaxReplica = 4, Cpu = "4", Memory = "16Gi", QueueName = "root_queue" },
            new WorkerGroupSpec { GroupName = "small", Replica = 1, MinReplica = 1, MaxReplica = 1, Cpu = "500m", Memory = "1536Mi", QueueName = "q-2" },
        ],
    };

    public sealed record Case(string Name, ClusterSpec Spec, KubernetesProviderOptions Options, IReadOnlyList<ProviderVolume> Volumes, ProviderNetworkService? Network)
    {
        public override string ToString() => Name;

        public ProviderClusterRequest Request(string instanceId = InstanceId, ReleaseVersion? release = null) =>
            Resolved(ClusterId, instanceId, Spec, release: release) with
            {
                Volumes = Volumes,
                NetworkService = Network,
            };

    }

    private static KubernetesProviderOptions Defaults => new();

    public static IEnumerable<Case> All()
    {
        yield return new("minimal head only", Minimal, Defaults, [], null);
        yield return new("two worker groups, mixed case and millicores", TwoGroups, Defaults, [], null);
        yield return new("autoscaling with idle timeout", TwoGroups with
        {
            Head = TwoGroups.Head with { EnableAutoScaling = true, IdleTimeoutSeconds = 120 },
        }, Defaults, [], null);
        yield return new("GPU head and GPU workers with tolerations", Minimal with
        {
            Head = Minimal.Head with { GpuSpec = "ecs.gn6i-c4g1.xlarge" },
            Workers = [new WorkerGroupSpec { GroupName = "gpu", WorkerType = "GPU", GpuSpec = "ecs.gn7i-2x", Replica = 2, MinReplica = 1, MaxReplica = 2, Cpu = "16", Memory = "60Gi", QueueName = "root_queue" }],
        }, new KubernetesProviderOptions
        {
            GpuTolerations =
            [
                new TolerationOptions { Key = "nvidia.com/gpu", Operator = "Exists", Effect = "NoSchedule" },
                new TolerationOptions { Key = "dedicated", Operator = "Equal", Value = "ray", Effect = "NoExecute", TolerationSeconds = 300 },
            ],
        }, [], null);
        yield return new("env and rayStartParams", TwoGroups with
        {
            Head = TwoGroups.Head with { Env = "A=1\nB=two words\nA=3", RayStartParams = "--num-cpus=0 --disable-usage-stats --object-store-memory=1000000000" },
            Workers = [TwoGroups.Workers[0] with { Env = "OMP_NUM_THREADS=4", RayStartParams = "--num-gpus=0" }],
        }, Defaults, [], null);
        yield return new("PVC and hostPath volumes", TwoGroups, Defaults,
        [
            new ProviderVolume("vol-0123456789abcdef", "data", "pvc", "shared-data", "/mnt/data"),
            new ProviderVolume("vol-fedcba9876543210", "models", "hostPath", "/opt/models", "/models"),
        ], null);
        yield return new("network service overlay", TwoGroups with { NetworkServiceName = "vpc a" }, new KubernetesProviderOptions
        {
            NetworkServices = new()
            {
                ["vpc a"] = new PodOverlayOptions
                {
                    Labels = new() { ["example.com/vpc"] = "{vpcId}" },
                    Annotations = new() { ["example.com/vswitches"] = "{vswitchIds}", ["example.com/sg"] = "{securityGroupId}" },
                    NodeSelector = new() { ["topology.kubernetes.io/zone"] = "cn-hangzhou-h" },
                },
            },
        }, [], new ProviderNetworkService("ns-0123456789abcdef", "vpc a", "vpc-123", ["vsw-1", "vsw-2"], "sg-9"));
        yield return new("GCS fault tolerance with a password", Minimal with
        {
            Head = Minimal.Head with { GftEnabled = true, GftConfig = new GftSettings("redis://redis.example:6379", "ray", "PROTECTED-BLOB") },
        }, Defaults, [], null);
        yield return new("GCS fault tolerance without credentials", Minimal with
        {
            Head = Minimal.Head with { GftEnabled = true, GftConfig = new GftSettings("redis.example:6379", null, null) },
        }, Defaults, [], null);
        yield return new("Kueue queue label on", TwoGroups with { Head = TwoGroups.Head with { QueueName = "Team_A.Queue" } },
            new KubernetesProviderOptions { KueueQueueLabel = true }, [], null);
        yield return new("everything at once", TwoGroups with
        {
            NetworkServiceName = "net",
            Head = TwoGroups.Head with
            {
                EnableAutoScaling = true, IdleTimeoutSeconds = 30, GpuSpec = "ecs.gn6i-c4g1.xlarge", Env = "X=1", RayStartParams = "--num-cpus=0",
                GftEnabled = true, GftConfig = new GftSettings("redis:6379", "u", "p"),
            },
            Workers = [.. TwoGroups.Workers, new WorkerGroupSpec { GroupName = "g-p-u", WorkerType = "GPU", GpuSpec = "ecs.gn7i-2x", Replica = 1, MinReplica = 0, MaxReplica = 3, Cpu = "8", Memory = "30Gi", QueueName = "root_queue" }],
            VolumeIds = ["vol-0123456789abcdef"],
        }, new KubernetesProviderOptions { KueueQueueLabel = true },
        [new ProviderVolume("vol-0123456789abcdef", "data", "pvc", "shared-data", "/mnt/data")],
        new ProviderNetworkService("ns-00000000000000aa", "net", null, [], null));
        yield return new("a group on its own release version", TwoGroups with
        {
            Workers = [TwoGroups.Workers[0] with { DisplayReleaseVersion = OldRelease.DisplayReleaseVersion }],
        }, Defaults, [], null);
        yield return new("fifty worker groups with long names", Minimal with
        {
            Workers = [.. Enumerable.Range(0, 50).Select(i => new WorkerGroupSpec
            {
                GroupName = $"G{i:D2}-" + new string('x', 36), Replica = 1, MinReplica = 1, MaxReplica = 1, Cpu = "1", Memory = "1Gi", QueueName = "root_queue",
            })],
        }, Defaults, [], null);
    }

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All()) data.Add(c.Name);
        return data;
    }

    public static Case Named(string name) => All().Single(c => c.Name == name);

    public static System.Text.Json.Nodes.JsonObject Build(Case c, bool? suspend = false, ReleaseVersion? release = null) =>
        RayClusterManifest.Build(new RayClusterManifestInput(c.Request(release: release), Namespace, suspend), c.Options);

    public static ImmutableList<T> L<T>(params T[] items) => [.. items];
}
