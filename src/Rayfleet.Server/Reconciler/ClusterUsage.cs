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
/// <remarks>
/// An observation that sees the same nodes as the last one changes nothing: what they ran since is computed when read
/// (<see cref="Current"/> from the node list, <see cref="Listed"/> from the stored rate), never written, so a pass over
/// a steady cluster commits nothing. Charging at every observation would rewrite every running cluster's row each time
/// the reconciler looks at it.
/// </remarks>
public static class ClusterUsage
{
    /// <summary>Charges the nodes observed so far up to <paramref name="now"/> and makes <paramref name="nodesJson"/> the ones to charge next.</summary>
    public static void Observe(ClusterRow row, string nodesJson, Catalogs catalogs, long now)
    {
        // The same nodes: charging them up to now or later gives the same total (the meter is additive over time).
        if (row.UsageObservedAt is not null && row.UsageCuRate is not null && string.Equals(row.NodesJson, nodesJson, StringComparison.Ordinal))
            return;
        var charged = Current(row, catalogs, now);
        row.UsageCuMs = charged.CuMs;
        row.UsageGpuMs = charged.GpuMs;
        row.UsageObservedAt = now;
        row.NodesJson = nodesJson;
        var running = Metered(row, catalogs).Where(n => n.RunningSince is not null).ToList();
        row.UsageCuRate = running.Sum(n => n.Cu);
        row.UsageGpuRate = running.Sum(n => (decimal)n.Gpus);
    }

    /// <summary>
    /// The meter at <paramref name="now"/> from the stored columns alone (a List reads no node lists): what was charged,
    /// plus the rate of the nodes last seen running since then. Rows observed before the rate was stored show the charge.
    /// </summary>
    public static Usage Listed(decimal cuMs, decimal gpuMs, decimal? cuRate, decimal? gpuRate, long? observedAt, long now)
    {
        var charged = new Usage(cuMs, gpuMs);
        if (observedAt is not { } since || now <= since) return charged;
        return charged + new Usage((cuRate ?? 0) * (now - since), (gpuRate ?? 0) * (now - since));
    }

    /// <summary>The meter at <paramref name="now"/>: what was charged, plus the nodes last seen running up to now.</summary>
    public static Usage Current(ClusterRow row, Catalogs catalogs, long now)
    {
        var charged = new Usage(row.UsageCuMs, row.UsageGpuMs);
        if (row.UsageObservedAt is not { } since) return charged;
        return charged + UsageMeter.Accrue(Metered(row, catalogs), since, now);
    }

    /// <summary>The nodes of <see cref="ClusterRow.NodesJson"/> as the meter sees them.</summary>
    private static IReadOnlyList<MeteredNode> Metered(ClusterRow row, Catalogs catalogs)
    {
        if (row.NodesJson is "[]" or "") return [];
        var nodes = JsonSerializer.Deserialize(row.NodesJson, WireJson.Default.ListRayNodeDto) ?? [];
        if (nodes.Count == 0) return [];
        var spec = ClusterSpec.FromJson(row.RunSpecJson ?? row.SpecJson);
        return [.. nodes.Select(n => Metered(n, spec, catalogs))];
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
