using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Tests;

public class ClusterSpecTests
{
    private readonly ClusterSpec _current = Specs.Cluster();

    private ClusterSpec WithGroup(int index, Func<WorkerGroupSpec, WorkerGroupSpec> change) =>
        _current with { Workers = _current.Workers.SetItem(index, change(_current.Workers[index])) };

    [Fact]
    public void An_identical_spec_needs_no_restart()
    {
        Assert.False(_current.NeedsRestartToMatch(Specs.Cluster()));
    }

    public static TheoryData<string> LiveChanges => ["replica", "minReplica", "maxReplica", "autoscaling", "idle", "name", "description", "all", "removeGroup"];

    private ClusterSpec ApplyLive(string change) => change switch
    {
        "replica" => WithGroup(0, g => g with { Replica = 4 }),
        "minReplica" => WithGroup(0, g => g with { MinReplica = 2 }),
        "maxReplica" => WithGroup(1, g => g with { MaxReplica = 10 }),
        "autoscaling" => _current with { Head = _current.Head with { EnableAutoScaling = true } },
        "idle" => _current with { Head = _current.Head with { IdleTimeoutSeconds = 600 } },
        "name" => _current with { Name = "renamed" },
        "description" => _current with { Description = null },
        "all" => (_current with
        {
            Name = "n",
            Description = "d",
            Head = _current.Head with { EnableAutoScaling = true, IdleTimeoutSeconds = 10 },
        }) is var s ? s with { Workers = s.Workers.SetItem(0, s.Workers[0] with { Replica = 9, MinReplica = 3, MaxReplica = 9 }) } : s,
        "removeGroup" => _current with { Workers = _current.Workers.RemoveAt(1) },
        _ => throw new ArgumentOutOfRangeException(nameof(change)),
    };

    [Theory]
    [MemberData(nameof(LiveChanges))]
    public void Changes_that_apply_at_once_need_no_restart(string change)
    {
        Assert.False(_current.NeedsRestartToMatch(ApplyLive(change)));
    }

    public static TheoryData<string> RestartChanges =>
    [
        "headCpu", "headMemory", "headEnv", "headGpu", "headRayStartParams", "headQueue", "headGft", "release", "workerCpu",
        "workerMemory", "workerEnv", "workerGpu", "workerType", "newGroup", "volumes", "networkService", "extraParam",
    ];

    private ClusterSpec ApplyRestart(string change) => change switch
    {
        "headCpu" => _current with { Head = _current.Head with { Cpu = "4" } },
        "headMemory" => _current with { Head = _current.Head with { Memory = "16Gi" } },
        "headEnv" => _current with { Head = _current.Head with { Env = "A=2" } },
        "headGpu" => _current with { Head = _current.Head with { GpuSpec = "ecs.gn7-8x" } },
        "headRayStartParams" => _current with { Head = _current.Head with { RayStartParams = null } },
        "headQueue" => _current with { Head = _current.Head with { QueueName = "dev" } },
        "headGft" => _current with { Head = _current.Head with { GftConfig = new GftSettings("redis://other", "user", "s3cret") } },
        "release" => _current with { DisplayReleaseVersion = "EMR-Ray-2.30.0" },
        "workerCpu" => WithGroup(0, g => g with { Cpu = "2" }),
        "workerMemory" => WithGroup(1, g => g with { Memory = "8Gi" }),
        "workerEnv" => WithGroup(0, g => g with { Env = "B=1" }),
        "workerGpu" => WithGroup(0, g => g with { GpuSpec = "ecs.gn7-8x" }),
        "workerType" => WithGroup(0, g => g with { WorkerType = "GPU" }),
        "newGroup" => _current with { Workers = _current.Workers.Add(Specs.Group("third")) },
        "volumes" => _current with { VolumeIds = [] },
        "networkService" => _current with { NetworkServiceName = null },
        "extraParam" => _current with { ExtraParam = "{}" },
        _ => throw new ArgumentOutOfRangeException(nameof(change)),
    };

    [Theory]
    [MemberData(nameof(RestartChanges))]
    public void Changes_to_the_shape_of_nodes_need_a_restart(string change)
    {
        Assert.True(_current.NeedsRestartToMatch(ApplyRestart(change)));
    }

    [Fact]
    public void Reordering_worker_groups_needs_no_restart()
    {
        var target = _current with { Workers = [_current.Workers[1], _current.Workers[0]] };

        Assert.False(_current.NeedsRestartToMatch(target));
    }

    [Fact]
    public void A_live_change_together_with_a_shape_change_still_needs_a_restart()
    {
        var target = WithGroup(0, g => g with { Replica = 5, Cpu = "3" });

        Assert.True(_current.NeedsRestartToMatch(target));
    }

    [Fact]
    public void WithLiveFieldsFrom_takes_live_fields_and_keeps_the_rest()
    {
        var target = (_current with
        {
            Name = "new",
            Description = "new desc",
            DisplayReleaseVersion = "EMR-Ray-2.30.0",
            Head = _current.Head with { Cpu = "8", IdleTimeoutSeconds = 30, EnableAutoScaling = true },
        }) is var t ? t with { Workers = [t.Workers[1] with { Replica = 3, Cpu = "16" }, Specs.Group("third")] } : t;

        var live = _current.WithLiveFieldsFrom(target);

        Assert.Equal("new", live.Name);
        Assert.Equal("new desc", live.Description);
        Assert.Equal("EMR-Ray-2.40.0", live.DisplayReleaseVersion);
        Assert.Equal("2", live.Head.Cpu);
        Assert.Equal(30, live.Head.IdleTimeoutSeconds);
        Assert.True(live.Head.EnableAutoScaling);
        var group = Assert.Single(live.Workers);
        Assert.Equal("second", group.GroupName);
        Assert.Equal(3, group.Replica);
        Assert.Equal("1", group.Cpu);
    }

    [Fact]
    public void Demand_counts_the_head_and_each_group_at_replica()
    {
        // head 2 cores/8Gi = 2 CU; WorkerGroup1 2 x (1 core/4Gi = 1 CU); second 1 x 1 CU.
        var demand = _current.Demand(_ => 0);

        var root = demand.For("root_queue");
        Assert.Equal(5m, root.Cu);
        Assert.Equal(5000, root.MilliCpu);
        Assert.Equal(20L << 30, root.MemoryBytes);
        Assert.Equal(0, root.Gpu);
    }

    [Fact]
    public void With_autoscaling_demand_counts_min_replica()
    {
        var spec = Specs.Cluster(Specs.Group("a", replica: 3, min: 2, max: 6)) is var s
            ? s with { Head = s.Head with { EnableAutoScaling = true } }
            : s;

        Assert.Equal(2m + 2m, spec.Demand(_ => 0).For("root_queue").Cu);
    }

    [Fact]
    public void Without_autoscaling_demand_counts_replica_even_above_max()
    {
        var spec = Specs.Cluster(Specs.Group("a", replica: 6, min: 1, max: 3));

        Assert.Equal(2m + 6m, spec.Demand(_ => 0).For("root_queue").Cu);
    }

    [Fact]
    public void Demand_is_split_by_queue_and_counts_gpus_per_node()
    {
        var spec = Specs.Cluster(Specs.Group("gpu", replica: 2) with { QueueName = "dev", GpuSpec = "ecs.gn7-8x" });

        var demand = spec.Demand(gpu => gpu == "ecs.gn7-8x" ? 8 : 0);

        Assert.Equal(2m, demand.For("root_queue").Cu);
        Assert.Equal(0, demand.For("root_queue").Gpu);
        Assert.Equal(2m, demand.For("dev").Cu);
        Assert.Equal(16, demand.For("dev").Gpu);
    }

    [Fact]
    public void Replica_override_replaces_the_count_of_the_named_group()
    {
        var demand = _current.Demand(_ => 0, new Dictionary<string, int> { ["WorkerGroup1"] = 5 });

        Assert.Equal(2m + 5m + 1m, demand.For("root_queue").Cu);
    }

    [Fact]
    public void With_autoscaling_the_head_node_holds_the_providers_autoscaler_too()
    {
        var sidecar = new AutoscalerFootprint(500, 512L << 20);
        var autoscaling = Specs.Cluster(Specs.Group("a", replica: 3, min: 1, max: 6)) is var s
            ? s with { Head = s.Head with { EnableAutoScaling = true } }
            : s;

        // Head 2 cores/8Gi and sidecar 500m/512Mi are one node of 2.5 cores and 8.5Gi: 2.5 CU; the group at min 1 CU.
        var root = autoscaling.Demand(_ => 0, autoscaler: sidecar).For("root_queue");
        Assert.Equal((2500 + 1000, (8L << 30) + (512L << 20) + (4L << 30), 3.5m), (root.MilliCpu, root.MemoryBytes, root.Cu));

        // Memory decides the head's CU here: max(1.5, 8.5 / 4) = 2.125, not 1 + 0.5 + the head's own 2.
        var memoryBound = autoscaling with { Head = autoscaling.Head with { Cpu = "1" } };
        Assert.Equal(2.125m + 1m, memoryBound.Demand(_ => 0, autoscaler: sidecar).For("root_queue").Cu);

        // Without autoscaling no autoscaler runs, whatever the provider would run for one.
        var fixedSize = autoscaling with { Head = autoscaling.Head with { EnableAutoScaling = false } };
        Assert.Equal(2m + 3m, fixedSize.Demand(_ => 0, autoscaler: sidecar).For("root_queue").Cu);
    }

    [Fact]
    public void NodeResources_parses_the_wire_quantities()
    {
        var r = ClusterSpec.NodeResources("500m", "16Gi", 1, 2);

        Assert.Equal(1000, r.MilliCpu);
        Assert.Equal(32L << 30, r.MemoryBytes);
        Assert.Equal(8m, r.Cu);
        Assert.Equal(2, r.Gpu);
    }

    [Theory]
    [InlineData(false, 7, 1, 3, 7)]
    [InlineData(true, 7, 1, 3, 3)]
    [InlineData(true, 1, 2, 3, 2)]
    [InlineData(true, 2, 1, 3, 2)]
    public void Target_replicas_clamp_to_min_and_max_only_with_autoscaling(bool autoscaling, int replica, int min, int max, int expected)
    {
        var group = Specs.Group("g", replica, min, max);
        var spec = Specs.Cluster(group) is var s ? s with { Head = s.Head with { EnableAutoScaling = autoscaling } } : s;

        Assert.Equal(expected, spec.TargetReplicas(group));
    }

    [Fact]
    public void A_spec_survives_a_json_round_trip()
    {
        var json = _current.ToJson();

        var back = ClusterSpec.FromJson(json);

        Assert.Equal(json, back.ToJson());
        Assert.Equal("s3cret", back.Head.GftConfig!.RedisPassword);
        Assert.Equal(["WorkerGroup1", "second"], back.Workers.Select(w => w.GroupName).ToArray());
        Assert.False(_current.NeedsRestartToMatch(back));
    }

    [Fact]
    public void Reading_a_null_spec_fails()
    {
        Assert.Throws<InvalidDataException>(() => ClusterSpec.FromJson("null"));
    }
}
