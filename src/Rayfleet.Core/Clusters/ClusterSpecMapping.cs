using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>Between specs and wire shapes, by hand; and the merge of UpdateRayCluster (semantics.md, Update).</summary>
public static class ClusterSpecMapping
{
    public static HeadSpecDto ToHeadDto(HeadGroupSpec head) => new()
    {
        Cpu = head.Cpu,
        Memory = head.Memory,
        QueueName = head.QueueName,
        EnableAutoScaling = head.EnableAutoScaling,
        IdleTimeoutSeconds = head.IdleTimeoutSeconds,
        GpuSpec = head.GpuSpec,
        DisplayReleaseVersion = head.DisplayReleaseVersion,
        Env = head.Env,
        RayStartParams = head.RayStartParams,
        GftEnabled = head.GftEnabled,
        GftConfig = head.GftConfig is null
            ? null
            : new GftConfigDto
            {
                RedisUrl = head.GftConfig.RedisUrl,
                RedisUsername = head.GftConfig.RedisUsername,
                // Never echoed (semantics.md): the store keeps it encrypted and responses mask it.
                RedisPassword = head.GftConfig.RedisPassword is null ? null : ClusterRules.MaskedSecret,
            },
        Replica = 1,
    };

    public static WorkerSpecDto ToWorkerDto(WorkerGroupSpec group) => new()
    {
        GroupName = group.GroupName,
        WorkerType = group.WorkerType,
        Replica = group.Replica,
        MinReplica = group.MinReplica,
        MaxReplica = group.MaxReplica,
        Cpu = group.Cpu,
        Memory = group.Memory,
        QueueName = group.QueueName,
        GpuSpec = group.GpuSpec,
        DisplayReleaseVersion = group.DisplayReleaseVersion,
        Env = group.Env,
        RayStartParams = group.RayStartParams,
    };

    public static ListHeadSpecDto ToListHeadDto(HeadGroupSpec head) => new()
    {
        Cpu = head.Cpu,
        Memory = head.Memory,
        QueueName = head.QueueName,
        EnableAutoScaling = head.EnableAutoScaling,
        IdleTimeoutSeconds = head.IdleTimeoutSeconds,
        GpuSpec = head.GpuSpec,
        Replica = 1,
    };

    public static ListWorkerSpecDto ToListWorkerDto(WorkerGroupSpec group) => new()
    {
        GroupName = group.GroupName,
        WorkerType = group.WorkerType,
        Replica = group.Replica,
        MinReplica = group.MinReplica,
        MaxReplica = group.MaxReplica,
        Cpu = group.Cpu,
        Memory = group.Memory,
        QueueName = group.QueueName,
        GpuSpec = group.GpuSpec,
    };

    /// <summary>
    /// The request a full spec corresponds to, with the stored (not masked) Redis password so that a merge keeps it.
    /// </summary>
    public static RayClusterRequest ToRequest(ClusterSpec spec) => new()
    {
        Name = spec.Name,
        Description = spec.Description,
        DisplayReleaseVersion = spec.DisplayReleaseVersion,
        NetworkServiceName = spec.NetworkServiceName,
        ExtraParam = spec.ExtraParam,
        VolumeIds = [.. spec.VolumeIds],
        HeadSpec = ToHeadDto(spec.Head) with
        {
            Replica = null,
            GftConfig = spec.Head.GftConfig is null
                ? null
                : new GftConfigDto
                {
                    RedisUrl = spec.Head.GftConfig.RedisUrl,
                    RedisUsername = spec.Head.GftConfig.RedisUsername,
                    RedisPassword = spec.Head.GftConfig.RedisPassword,
                },
        },
        WorkerSpec = [.. spec.Workers.Select(ToWorkerDto)],
    };

    /// <summary>
    /// UpdateRayCluster merge: absent or null keeps, present replaces. A present workerSpec replaces the list; groups
    /// are matched by groupName (ignoring case) and merged field by field; a group missing from the list is removed.
    /// A masked password ("******") sent back keeps the stored one.
    /// </summary>
    public static RayClusterRequest Merge(ClusterSpec current, RayClusterRequest patch)
    {
        var baseline = ToRequest(current);
        var head = baseline.HeadSpec!;
        if (patch.HeadSpec is { } ph)
        {
            head = new HeadSpecDto
            {
                Cpu = ph.Cpu ?? head.Cpu,
                Memory = ph.Memory ?? head.Memory,
                QueueName = ph.QueueName ?? head.QueueName,
                EnableAutoScaling = ph.EnableAutoScaling ?? head.EnableAutoScaling,
                IdleTimeoutSeconds = ph.IdleTimeoutSeconds ?? head.IdleTimeoutSeconds,
                GpuSpec = ph.GpuSpec ?? head.GpuSpec,
                DisplayReleaseVersion = ph.DisplayReleaseVersion ?? head.DisplayReleaseVersion,
                Env = ph.Env ?? head.Env,
                RayStartParams = ph.RayStartParams ?? head.RayStartParams,
                GftEnabled = ph.GftEnabled ?? head.GftEnabled,
                GftConfig = MergeGft(head.GftConfig, ph.GftConfig),
            };
        }

        var workers = baseline.WorkerSpec;
        if (patch.WorkerSpec is { } pw)
        {
            workers = [.. pw.Select(p =>
            {
                if (p?.GroupName is null) return p;
                var old = baseline.WorkerSpec!.FirstOrDefault(o => ClusterRules.SameGroup(o!.GroupName!, p.GroupName));
                if (old is null) return p;
                return new WorkerSpecDto
                {
                    GroupName = p.GroupName,
                    WorkerType = p.WorkerType ?? old.WorkerType,
                    Replica = p.Replica ?? old.Replica,
                    MinReplica = p.MinReplica ?? old.MinReplica,
                    MaxReplica = p.MaxReplica ?? old.MaxReplica,
                    Cpu = p.Cpu ?? old.Cpu,
                    Memory = p.Memory ?? old.Memory,
                    QueueName = p.QueueName ?? old.QueueName,
                    GpuSpec = p.GpuSpec ?? old.GpuSpec,
                    DisplayReleaseVersion = p.DisplayReleaseVersion ?? old.DisplayReleaseVersion,
                    Env = p.Env ?? old.Env,
                    RayStartParams = p.RayStartParams ?? old.RayStartParams,
                };
            })];
        }

        return new RayClusterRequest
        {
            Name = patch.Name ?? baseline.Name,
            Description = patch.Description ?? baseline.Description,
            DisplayReleaseVersion = patch.DisplayReleaseVersion ?? baseline.DisplayReleaseVersion,
            NetworkServiceName = patch.NetworkServiceName ?? baseline.NetworkServiceName,
            ExtraParam = patch.ExtraParam ?? baseline.ExtraParam,
            VolumeIds = patch.VolumeIds ?? baseline.VolumeIds,
            HeadSpec = head,
            WorkerSpec = workers,
        };
    }

    private static GftConfigDto? MergeGft(GftConfigDto? current, GftConfigDto? patch)
    {
        if (patch is null) return current;
        var password = patch.RedisPassword is null || patch.RedisPassword == ClusterRules.MaskedSecret
            ? current?.RedisPassword
            : patch.RedisPassword;
        return new GftConfigDto
        {
            RedisUrl = patch.RedisUrl ?? current?.RedisUrl,
            RedisUsername = patch.RedisUsername ?? current?.RedisUsername,
            RedisPassword = password,
        };
    }
}
