using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

/// <summary>Hand-written catalogue: a workspace with two queues, two releases, one GPU type, one network service and one volume.</summary>
internal sealed class FakeCatalog : IClusterCatalog
{
    public string DefaultReleaseVersion { get; init; } = "EMR-Ray-2.40.0";
    public HashSet<string> Releases { get; init; } = new(StringComparer.Ordinal) { "EMR-Ray-2.40.0", "EMR-Ray-2.30.0" };
    public Dictionary<string, int> Gpus { get; init; } = new(StringComparer.Ordinal) { ["ecs.gn7i-c8g1.2xlarge"] = 1, ["ecs.gn7-8x"] = 8 };
    public HashSet<string> Queues { get; init; } = new(StringComparer.Ordinal) { "root_queue", "dev" };
    public HashSet<string> NetworkServices { get; init; } = new(StringComparer.Ordinal) { "ns-main" };
    public HashSet<string> Volumes { get; init; } = new(StringComparer.Ordinal) { "vol-0123456789abcdef" };

    public bool ReleaseVersionExists(string displayReleaseVersion) => Releases.Contains(displayReleaseVersion);
    public int? GpuCount(string gpuSpec) => Gpus.TryGetValue(gpuSpec, out var n) ? n : null;
    public bool QueueExists(string queueName) => Queues.Contains(queueName);
    public bool NetworkServiceExists(string name) => NetworkServices.Contains(name);
    public bool VolumeExists(string volumeId) => Volumes.Contains(volumeId);
}

internal static class Requests
{
    public static HeadSpecDto Head(string cpu = "2", string memory = "8Gi") => new() { Cpu = cpu, Memory = memory };

    public static WorkerSpecDto Worker(string name = "workers", string cpu = "1", string memory = "4Gi", int? replica = 2) =>
        new() { GroupName = name, Cpu = cpu, Memory = memory, Replica = replica };

    public static RayClusterRequest Valid(params WorkerSpecDto[] workers) => new()
    {
        Name = "my-cluster",
        HeadSpec = Head(),
        WorkerSpec = workers.Length == 0 ? [Worker()] : [.. workers],
    };
}
