using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

public class ClusterSpecMappingTests
{
    private readonly ClusterSpec _current = Specs.Cluster();

    [Fact]
    public void An_empty_patch_keeps_everything()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest());

        Assert.Equal("c1", merged.Name);
        Assert.Equal("first", merged.Description);
        Assert.Equal("EMR-Ray-2.40.0", merged.DisplayReleaseVersion);
        Assert.Equal("ns-main", merged.NetworkServiceName);
        Assert.Equal("{\"a\":1}", merged.ExtraParam);
        Assert.Equal("vol-0123456789abcdef", Assert.Single(merged.VolumeIds!));
        Assert.Equal("2", merged.HeadSpec!.Cpu);
        Assert.Equal("8Gi", merged.HeadSpec.Memory);
        Assert.Equal("A=1", merged.HeadSpec.Env);
        Assert.Equal("s3cret", merged.HeadSpec.GftConfig!.RedisPassword);
        Assert.Equal("WorkerGroup1,second", string.Join(",", merged.WorkerSpec!.Select(w => w!.GroupName)));
    }

    [Fact]
    public void Merging_an_empty_patch_validates_back_to_the_same_spec()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest());

        var (spec, problems) = ClusterRules.Validate(merged, new FakeCatalog());

        Assert.Empty(problems);
        Assert.Equal(_current.ToJson(), spec!.ToJson());
        Assert.False(_current.NeedsRestartToMatch(spec));
    }

    [Fact]
    public void Present_top_level_fields_replace_and_absent_ones_keep()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            Name = "renamed",
            Description = "",
            VolumeIds = [],
        });

        Assert.Equal("renamed", merged.Name);
        Assert.Equal("", merged.Description);
        Assert.Empty(merged.VolumeIds!);
        Assert.Equal("ns-main", merged.NetworkServiceName);
        Assert.Equal("EMR-Ray-2.40.0", merged.DisplayReleaseVersion);
        Assert.Equal(2, merged.WorkerSpec!.Count);
    }

    [Fact]
    public void Head_fields_merge_one_by_one()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            HeadSpec = new HeadSpecDto { Memory = "16Gi", IdleTimeoutSeconds = 300, EnableAutoScaling = true },
        });

        var head = merged.HeadSpec!;
        Assert.Equal("2", head.Cpu);
        Assert.Equal("16Gi", head.Memory);
        Assert.Equal(300, head.IdleTimeoutSeconds);
        Assert.Equal(true, head.EnableAutoScaling);
        Assert.Equal("root_queue", head.QueueName);
        Assert.Equal("A=1", head.Env);
        Assert.Equal("--num-cpus=0", head.RayStartParams);
        Assert.Equal(true, head.GftEnabled);
        Assert.Equal("redis://r:6379", head.GftConfig!.RedisUrl);
        Assert.Equal("s3cret", head.GftConfig.RedisPassword);
    }

    [Fact]
    public void The_merged_head_carries_no_replica()
    {
        Assert.Null(ClusterSpecMapping.Merge(_current, new RayClusterRequest()).HeadSpec!.Replica);
        Assert.Null(ClusterSpecMapping.Merge(_current, new RayClusterRequest { HeadSpec = new HeadSpecDto() }).HeadSpec!.Replica);
    }

    [Fact]
    public void A_masked_password_sent_back_keeps_the_stored_password()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            HeadSpec = new HeadSpecDto { GftConfig = new GftConfigDto { RedisUrl = "redis://new:6379", RedisPassword = "******" } },
        });

        Assert.Equal("s3cret", merged.HeadSpec!.GftConfig!.RedisPassword);
        Assert.Equal("redis://new:6379", merged.HeadSpec.GftConfig.RedisUrl);
        Assert.Equal("user", merged.HeadSpec.GftConfig.RedisUsername);
    }

    [Fact]
    public void An_absent_password_keeps_the_stored_password()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            HeadSpec = new HeadSpecDto { GftConfig = new GftConfigDto { RedisUsername = "other" } },
        });

        Assert.Equal("s3cret", merged.HeadSpec!.GftConfig!.RedisPassword);
        Assert.Equal("other", merged.HeadSpec.GftConfig.RedisUsername);
    }

    [Fact]
    public void A_new_password_replaces_the_stored_password()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            HeadSpec = new HeadSpecDto { GftConfig = new GftConfigDto { RedisPassword = "n3w" } },
        });

        Assert.Equal("n3w", merged.HeadSpec!.GftConfig!.RedisPassword);
    }

    [Fact]
    public void A_masked_password_with_nothing_stored_stays_empty()
    {
        var current = _current with { Head = _current.Head with { GftConfig = null } };

        var merged = ClusterSpecMapping.Merge(current, new RayClusterRequest
        {
            HeadSpec = new HeadSpecDto { GftConfig = new GftConfigDto { RedisUrl = "redis://r", RedisPassword = "******" } },
        });

        Assert.Null(merged.HeadSpec!.GftConfig!.RedisPassword);
        Assert.Equal("redis://r", merged.HeadSpec.GftConfig.RedisUrl);
    }

    [Fact]
    public void A_present_worker_list_replaces_the_list_and_drops_missing_groups()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            WorkerSpec = [new WorkerSpecDto { GroupName = "second" }],
        });

        var group = Assert.Single(merged.WorkerSpec!);
        Assert.Equal("second", group!.GroupName);
    }

    [Fact]
    public void An_empty_worker_list_removes_every_group()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest { WorkerSpec = [] });

        Assert.Empty(merged.WorkerSpec!);
    }

    [Fact]
    public void A_matched_group_merges_field_by_field_ignoring_name_case()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest
        {
            WorkerSpec = [new WorkerSpecDto { GroupName = "workergroup1", Replica = 3, Memory = "8Gi" }],
        });

        var group = Assert.Single(merged.WorkerSpec!)!;
        Assert.Equal("workergroup1", group.GroupName);
        Assert.Equal(3, group.Replica);
        Assert.Equal("8Gi", group.Memory);
        Assert.Equal("1", group.Cpu);
        Assert.Equal(1, group.MinReplica);
        Assert.Equal(4, group.MaxReplica);
        Assert.Equal("CPU", group.WorkerType);
        Assert.Equal("root_queue", group.QueueName);
    }

    [Fact]
    public void A_new_group_is_taken_as_sent()
    {
        var fresh = new WorkerSpecDto { GroupName = "fresh", Cpu = "4", Memory = "16Gi" };

        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest { WorkerSpec = [Requests.Worker("second"), fresh] });

        Assert.Equal("second,fresh", string.Join(",", merged.WorkerSpec!.Select(w => w!.GroupName)));
        Assert.Same(fresh, merged.WorkerSpec![1]);
        Assert.Null(merged.WorkerSpec[1]!.Replica);
    }

    [Fact]
    public void A_patch_group_without_a_name_passes_through_for_validation_to_reject()
    {
        var merged = ClusterSpecMapping.Merge(_current, new RayClusterRequest { WorkerSpec = [new WorkerSpecDto { Cpu = "1" }, null] });

        Assert.Equal(2, merged.WorkerSpec!.Count);
        Assert.Null(merged.WorkerSpec[0]!.GroupName);
        Assert.Null(merged.WorkerSpec[1]);
    }

    [Fact]
    public void ToHeadDto_masks_the_password_and_reports_one_head_replica()
    {
        var dto = ClusterSpecMapping.ToHeadDto(_current.Head);

        Assert.Equal("******", dto.GftConfig!.RedisPassword);
        Assert.Equal("redis://r:6379", dto.GftConfig.RedisUrl);
        Assert.Equal("user", dto.GftConfig.RedisUsername);
        Assert.Equal(1, dto.Replica);
        Assert.Equal("2", dto.Cpu);
        Assert.Equal("8Gi", dto.Memory);
        Assert.Equal(60, dto.IdleTimeoutSeconds);
        Assert.Equal(false, dto.EnableAutoScaling);
    }

    [Fact]
    public void ToHeadDto_leaves_an_unset_password_unset()
    {
        var head = _current.Head with { GftConfig = new GftSettings("redis://r", null, null) };

        Assert.Null(ClusterSpecMapping.ToHeadDto(head).GftConfig!.RedisPassword);
        Assert.Null(ClusterSpecMapping.ToHeadDto(_current.Head with { GftConfig = null }).GftConfig);
    }

    [Fact]
    public void ToRequest_keeps_the_stored_password_for_merging()
    {
        var request = ClusterSpecMapping.ToRequest(_current);

        Assert.Equal("s3cret", request.HeadSpec!.GftConfig!.RedisPassword);
        Assert.Null(request.HeadSpec.Replica);
    }

    [Fact]
    public void Worker_dtos_echo_the_group()
    {
        var group = Specs.Group("g", replica: 3, min: 2, max: 5) with { WorkerType = "GPU", GpuSpec = "ecs.gn7-8x", Env = "E=1" };

        var dto = ClusterSpecMapping.ToWorkerDto(group);
        var list = ClusterSpecMapping.ToListWorkerDto(group);

        Assert.Equal(("g", "GPU", 3, 2, 5, "ecs.gn7-8x", "E=1"),
            (dto.GroupName, dto.WorkerType, dto.Replica!.Value, dto.MinReplica!.Value, dto.MaxReplica!.Value, dto.GpuSpec, dto.Env));
        Assert.Equal(("g", "GPU", 3, 2, 5, "1", "4Gi", "root_queue"),
            (list.GroupName, list.WorkerType, list.Replica!.Value, list.MinReplica!.Value, list.MaxReplica!.Value, list.Cpu, list.Memory, list.QueueName));
    }

    [Fact]
    public void List_head_dto_has_one_replica_and_the_short_fields()
    {
        var dto = ClusterSpecMapping.ToListHeadDto(_current.Head);

        Assert.Equal(1, dto.Replica);
        Assert.Equal("2", dto.Cpu);
        Assert.Equal("8Gi", dto.Memory);
        Assert.Equal("root_queue", dto.QueueName);
        Assert.Equal(60, dto.IdleTimeoutSeconds);
    }
}
