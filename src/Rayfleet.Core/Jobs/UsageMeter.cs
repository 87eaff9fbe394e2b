namespace Rayfleet.Core.Jobs;

/// <summary>A node as usage metering sees it: when it started running (null while it does not run), and its size.</summary>
public readonly record struct MeteredNode(long? RunningSince, decimal Cu, int Gpus);

/// <summary>Compute consumed so far, in CU-milliseconds and GPU-milliseconds; shown as hours.</summary>
public readonly record struct Usage(decimal CuMs, decimal GpuMs)
{
    public static readonly Usage Zero = new(0, 0);

    private const decimal MsPerHour = 3_600_000m;

    public double CuHours => (double)Math.Round(CuMs / MsPerHour, 6);
    public double GpuHours => (double)Math.Round(GpuMs / MsPerHour, 6);

    public static Usage operator +(Usage a, Usage b) => new(a.CuMs + b.CuMs, a.GpuMs + b.GpuMs);
    public static Usage operator -(Usage a, Usage b) => new(a.CuMs - b.CuMs, a.GpuMs - b.GpuMs);
}

/// <summary>
/// Usage from observed node run time x size. Every observation charges the nodes of the <em>previous</em> observation
/// for the time since it (from when each started running, if later): a node is charged from its start until the
/// observation that no longer sees it, as a cloud bills a machine until it is seen released.
/// </summary>
public static class UsageMeter
{
    public static Usage Accrue(IEnumerable<MeteredNode> previous, long previousAt, long now)
    {
        if (now <= previousAt) return Usage.Zero;
        decimal cu = 0, gpu = 0;
        foreach (var node in previous)
        {
            if (node.RunningSince is not { } since) continue;
            var ms = now - Math.Max(since, previousAt);
            if (ms <= 0) continue;
            cu += node.Cu * ms;
            gpu += node.Gpus * (decimal)ms;
        }
        return new Usage(cu, gpu);
    }
}
