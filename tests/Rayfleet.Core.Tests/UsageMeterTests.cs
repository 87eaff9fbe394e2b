using Rayfleet.Core.Jobs;

namespace Rayfleet.Core.Tests;

public sealed class UsageMeterTests
{
    [Fact]
    public void Nodes_are_charged_from_their_start_or_the_last_observation_whichever_is_later_until_now()
    {
        // Observed at t=1000: a head running since 0 (2 CU), a worker since 1500 (1 CU, 1 GPU), a pending node.
        MeteredNode[] previous = [new(0, 2m, 0), new(1500, 1m, 1), new(null, 4m, 0)];
        var usage = UsageMeter.Accrue(previous, previousAt: 1000, now: 4000);
        Assert.Equal(2m * 3000 + 1m * 2500, usage.CuMs);
        Assert.Equal(2500m, usage.GpuMs);
    }

    [Fact]
    public void Nothing_is_charged_when_the_clock_did_not_move_forward()
    {
        Assert.Equal(Usage.Zero, UsageMeter.Accrue([new MeteredNode(0, 2m, 1)], 5000, 5000));
        Assert.Equal(Usage.Zero, UsageMeter.Accrue([new MeteredNode(0, 2m, 1)], 5000, 4000));
    }

    [Fact]
    public void Hours_are_milliseconds_over_3_600_000()
    {
        var usage = new Usage(CuMs: 2m * 3_600_000, GpuMs: 1_800_000);
        Assert.Equal(2.0, usage.CuHours);
        Assert.Equal(0.5, usage.GpuHours);
    }
}
