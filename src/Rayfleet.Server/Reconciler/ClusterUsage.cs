using System.Text.Json;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// A cluster's usage meter (README, "Usage"): what its nodes ran, times their CU and GPUs, charged at each observation
/// for the nodes the previous one saw running (Core's <see cref="UsageMeter"/>).
/// </summary>
public static class ClusterUsage
{
    /// <summary>Charges the nodes observed so far up to <paramref name="now"/> and makes <paramref name="nodesJson"/> the ones to charge next.</summary>
    public static void Observe(ClusterRow row, string nodesJson, Catalogs catalogs, long now)
    {
        var charged = Current(row, catalogs, now);
        row.UsageCuMs = charged.CuMs;
        row.UsageGpuMs = charged.GpuMs;
        row.UsageObservedAt = now;
        row.NodesJson = nodesJson;
    }

    /// <summary>The meter at <paramref name="now"/>: what was charged, plus the nodes last seen running up to now.</summary>
    public static Usage Current(ClusterRow row, Catalogs catalogs, long now)
    {
        var charged = new Usage(row.UsageCuMs, row.UsageGpuMs);
        if (row.UsageObservedAt is not { } since || row.NodesJson is "[]" or "") return charged;
        var nodes = JsonSerializer.Deserialize<List<RayNodeDto>>(row.NodesJson) ?? [];
        if (nodes.Count == 0) return charged;
        var spec = ClusterSpec.FromJson(row.RunSpecJson ?? row.SpecJson);
        return charged + UsageMeter.Accrue(nodes.Select(n => Metered(n, spec, catalogs)), since, now);
    }

    /// <summary>The GPU type of a cluster whose nodes have GPUs (the head's, else the first GPU group's), for guHours.</summary>
    public static string? GpuSpec(ClusterSpec spec) =>
        spec.Head.GpuSpec ?? spec.Workers.FirstOrDefault(w => w.GpuSpec is not null)?.GpuSpec;

    private static MeteredNode Metered(RayNodeDto node, ClusterSpec spec, Catalogs catalogs)
    {
        string cpu, memory;
        string? gpu;
        if (node.GroupName is null)
        {
            (cpu, memory, gpu) = (spec.Head.Cpu, spec.Head.Memory, spec.Head.GpuSpec);
        }
        else if (spec.Workers.FirstOrDefault(g => g.GroupName == node.GroupName) is { } group)
        {
            (cpu, memory, gpu) = (group.Cpu, group.Memory, group.GpuSpec);
        }
        else
        {
            return new MeteredNode(null, 0, 0); // a group removed since: its nodes are gone at the next observation
        }
        var size = Resources.ForNodes(Quantity.ParseCpuMillis(cpu) ?? 0, Quantity.ParseMemoryBytes(memory) ?? 0, catalogs.GpuPerNode(gpu), 1);
        var running = node.Phase == "Running" && node.StartTime is > 0 ? node.StartTime : null;
        return new MeteredNode(running, size.Cu, size.Gpu);
    }
}
