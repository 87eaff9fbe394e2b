using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Tests;

/// <summary>Hand-built specs for the mapping and spec tests.</summary>
internal static class Specs
{
    public static WorkerGroupSpec Group(string name, int replica = 2, int min = 1, int max = 4, string cpu = "1", string memory = "4Gi") => new()
    {
        GroupName = name,
        Replica = replica,
        MinReplica = min,
        MaxReplica = max,
        Cpu = cpu,
        Memory = memory,
        QueueName = "root_queue",
    };

    public static ClusterSpec Cluster(params WorkerGroupSpec[] groups) => new()
    {
        Name = "c1",
        Description = "first",
        DisplayReleaseVersion = "EMR-Ray-2.40.0",
        NetworkServiceName = "ns-main",
        ExtraParam = "{\"a\":1}",
        VolumeIds = ["vol-0123456789abcdef"],
        Head = new HeadGroupSpec
        {
            Cpu = "2",
            Memory = "8Gi",
            QueueName = "root_queue",
            IdleTimeoutSeconds = 60,
            Env = "A=1",
            RayStartParams = "--num-cpus=0",
            GftEnabled = true,
            GftConfig = new GftSettings("redis://r:6379", "user", "s3cret"),
        },
        Workers = groups.Length == 0 ? [Group("WorkerGroup1"), Group("second", replica: 1)] : [.. groups],
    };
}
