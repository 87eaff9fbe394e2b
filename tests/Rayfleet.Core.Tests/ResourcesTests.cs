using System.Text.Json;
using Rayfleet.Core.Capacity;

namespace Rayfleet.Core.Tests;

public class ResourcesTests
{
    private const long Gi = 1L << 30;
    private const long Mi = 1L << 20;

    [Theory]
    [InlineData(2000L, 8 * Gi, "2")]     // 2 cores, 8 GiB / 4 = 2
    [InlineData(1000L, 16 * Gi, "4")]    // memory-bound: 16 GiB / 4 = 4
    [InlineData(500L, 1 * Gi, "0.5")]    // cpu-bound: 0.5 > 0.25
    [InlineData(4000L, 4 * Gi, "4")]     // cpu-bound
    [InlineData(1000L, 6 * Gi, "1.5")]   // memory-bound, fractional
    [InlineData(250L, 512 * Mi, "0.25")] // tie between 0.25 cores and 0.125
    public void A_node_needs_the_larger_of_cores_and_a_quarter_of_its_GiB(long milliCpu, long memory, string expectedCu)
    {
        var r = Resources.ForNodes(milliCpu, memory, 0, 1);

        Assert.Equal(decimal.Parse(expectedCu, System.Globalization.CultureInfo.InvariantCulture), r.Cu);
        Assert.Equal(milliCpu, r.MilliCpu);
        Assert.Equal(memory, r.MemoryBytes);
        Assert.Equal(0, r.Gpu);
    }

    [Fact]
    public void Node_count_multiplies_every_amount()
    {
        var r = Resources.ForNodes(1000, 16 * Gi, 2, 3);

        Assert.Equal(3000, r.MilliCpu);
        Assert.Equal(48 * Gi, r.MemoryBytes);
        Assert.Equal(12m, r.Cu);
        Assert.Equal(6, r.Gpu);
    }

    [Fact]
    public void Gpus_are_counted_apart_and_do_not_add_to_cu()
    {
        var withGpu = Resources.ForNodes(2000, 8 * Gi, 8, 1);
        var withoutGpu = Resources.ForNodes(2000, 8 * Gi, 0, 1);

        Assert.Equal(withoutGpu.Cu, withGpu.Cu);
        Assert.Equal(2m, withGpu.Cu);
        Assert.Equal(8, withGpu.Gpu);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Zero_or_negative_node_count_needs_nothing(int count)
    {
        var r = Resources.ForNodes(2000, 8 * Gi, 1, count);

        Assert.Equal(Resources.Zero, r);
        Assert.True(r.IsZero);
    }

    [Fact]
    public void Addition_and_subtraction_work_field_by_field()
    {
        var a = new Resources(2000, 8 * Gi, 2m, 1);
        var b = new Resources(500, 1 * Gi, 0.5m, 0);

        Assert.Equal(new Resources(2500, 9 * Gi, 2.5m, 1), a + b);
        Assert.Equal(new Resources(1500, 7 * Gi, 1.5m, 1), a - b);
        Assert.True((a - a).IsZero);
        Assert.False(b.IsZero);
    }

    [Fact]
    public void Wire_json_carries_cpu_memory_cu_and_gpu_as_strings()
    {
        var json = Resources.ForNodes(2000, 8 * Gi, 1, 2).ToWireJson();

        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.Equal(["cpu", "memory", "cu", "gpu"], root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.All(root.EnumerateObject(), p => Assert.Equal(JsonValueKind.String, p.Value.ValueKind));
        Assert.Equal("4", root.GetProperty("cpu").GetString());
        Assert.Equal("16Gi", root.GetProperty("memory").GetString());
        Assert.Equal("4", root.GetProperty("cu").GetString());
        Assert.Equal("2", root.GetProperty("gpu").GetString());
    }

    [Fact]
    public void Wire_json_of_fractional_amounts()
    {
        var json = Resources.ForNodes(500, 1 * Gi, 0, 1).ToWireJson();

        Assert.Equal("{\"cpu\":\"0.5\",\"memory\":\"1Gi\",\"cu\":\"0.5\",\"gpu\":\"0\"}", json);
    }

    [Fact]
    public void Queue_demand_adds_up_per_queue_and_skips_zero_amounts()
    {
        var demand = new QueueDemand();
        demand.Add("root_queue", Resources.ForNodes(1000, 4 * Gi, 0, 1));
        demand.Add("root_queue", Resources.ForNodes(2000, 8 * Gi, 1, 2));
        demand.Add("other", Resources.Zero);

        Assert.Equal(5m, demand.For("root_queue").Cu);
        Assert.Equal(2, demand.For("root_queue").Gpu);
        Assert.Equal(Resources.Zero, demand.For("other"));
        Assert.Equal(["root_queue"], demand.ByQueue.Keys.ToArray());
        Assert.False(demand.IsEmpty);
        Assert.True(new QueueDemand().IsEmpty);
    }

    [Fact]
    public void Queue_names_are_case_sensitive_in_a_demand()
    {
        var demand = new QueueDemand();
        demand.Add("q", new Resources(1000, Gi, 1m, 0));
        demand.Add("Q", new Resources(1000, Gi, 1m, 0));

        Assert.Equal(2, demand.ByQueue.Count);
        Assert.Equal(1m, demand.For("q").Cu);
    }

    [Fact]
    public void Queue_demand_survives_a_json_round_trip()
    {
        var demand = new QueueDemand();
        demand.Add("a", new Resources(1500, 6 * Gi, 1.5m, 2));
        demand.Add("b", new Resources(250, Mi, 0.25m, 0));

        var back = QueueDemand.FromJson(demand.ToJson());

        Assert.Equal(new Resources(1500, 6 * Gi, 1.5m, 2), back.For("a"));
        Assert.Equal(new Resources(250, Mi, 0.25m, 0), back.For("b"));
        Assert.Equal(2, back.ByQueue.Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Empty_json_is_an_empty_demand(string? json)
    {
        Assert.True(QueueDemand.FromJson(json).IsEmpty);
    }

    [Fact]
    public void AddAll_merges_another_demand()
    {
        var a = new QueueDemand();
        a.Add("q", new Resources(1000, Gi, 1m, 0));
        var b = new QueueDemand();
        b.Add("q", new Resources(1000, Gi, 2m, 1));
        b.Add("r", new Resources(1000, Gi, 3m, 0));

        a.AddAll(b);

        Assert.Equal(3m, a.For("q").Cu);
        Assert.Equal(1, a.For("q").Gpu);
        Assert.Equal(3m, a.For("r").Cu);
    }

    [Fact]
    public void FitsWithin_compares_cu_and_gpu_per_queue()
    {
        var capacity = new QueueDemand();
        capacity.Add("q", new Resources(0, 0, 4m, 1));

        var fits = new QueueDemand();
        fits.Add("q", new Resources(99_000, 999 * Gi, 4m, 1));
        var tooMuchCu = new QueueDemand();
        tooMuchCu.Add("q", new Resources(1000, Gi, 4.5m, 0));
        var tooMuchGpu = new QueueDemand();
        tooMuchGpu.Add("q", new Resources(1000, Gi, 1m, 2));
        var otherQueue = new QueueDemand();
        otherQueue.Add("r", new Resources(1000, Gi, 1m, 0));

        Assert.True(fits.FitsWithin(capacity));
        Assert.False(tooMuchCu.FitsWithin(capacity));
        Assert.False(tooMuchGpu.FitsWithin(capacity));
        Assert.False(otherQueue.FitsWithin(capacity));
        Assert.True(new QueueDemand().FitsWithin(capacity));
    }
}
