using System.Text.Json;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Capacity;

/// <summary>An amount of queue resources. CU per semantics.md: a node needs max(cores, GiB / 4); GPUs count apart.</summary>
public readonly record struct Resources(long MilliCpu, long MemoryBytes, decimal Cu, int Gpu)
{
    public static readonly Resources Zero = new(0, 0, 0m, 0);

    public static Resources ForNodes(long milliCpu, long memoryBytes, int gpuPerNode, int count)
    {
        if (count <= 0) return Zero;
        var cores = milliCpu / 1000m;
        var gib = memoryBytes / (decimal)(1L << 30);
        var cu = Math.Max(cores, gib / 4m);
        return new Resources(milliCpu * count, memoryBytes * count, cu * count, gpuPerNode * count);
    }

    public static Resources operator +(Resources a, Resources b) =>
        new(a.MilliCpu + b.MilliCpu, a.MemoryBytes + b.MemoryBytes, a.Cu + b.Cu, a.Gpu + b.Gpu);

    public static Resources operator -(Resources a, Resources b) =>
        new(a.MilliCpu - b.MilliCpu, a.MemoryBytes - b.MemoryBytes, a.Cu - b.Cu, a.Gpu - b.Gpu);

    public bool IsZero => MilliCpu == 0 && MemoryBytes == 0 && Cu == 0 && Gpu == 0;

    /// <summary>The JSON string the queue listing carries in maxResource / usedResource.</summary>
    public string ToWireJson() => JsonSerializer.Serialize(new QueueResourcesDto(
        Quantity.FormatCores(MilliCpu), Quantity.FormatMemory(MemoryBytes), Quantity.FormatCu(Cu),
        Gpu.ToString(System.Globalization.CultureInfo.InvariantCulture)), WireJson.Default.QueueResourcesDto);
}

/// <summary>Resources per queue name (ordinal keys: queue names are case-sensitive on the wire).</summary>
public sealed class QueueDemand
{
    private readonly SortedDictionary<string, Resources> _byQueue = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Resources> ByQueue => _byQueue;

    public void Add(string queue, Resources amount)
    {
        if (amount.IsZero) return;
        _byQueue[queue] = _byQueue.TryGetValue(queue, out var existing) ? existing + amount : amount;
    }

    public void AddAll(QueueDemand other)
    {
        foreach (var (queue, amount) in other._byQueue) Add(queue, amount);
    }

    public Resources For(string queue) => _byQueue.TryGetValue(queue, out var r) ? r : Resources.Zero;

    public bool IsEmpty => _byQueue.Count == 0;

    public string ToJson() => JsonSerializer.Serialize(_byQueue.ToDictionary(kv => kv.Key, kv => kv.Value), WireJson.Default.DictionaryStringResources);

    public static QueueDemand FromJson(string? json)
    {
        var demand = new QueueDemand();
        if (string.IsNullOrEmpty(json)) return demand;
        var map = JsonSerializer.Deserialize(json, WireJson.Default.DictionaryStringResources);
        if (map is not null)
            foreach (var (queue, amount) in map) demand.Add(queue, amount);
        return demand;
    }

    /// <summary>True when every queue's amount here is at most the other's (CU and GPU are what admission counts).</summary>
    public bool FitsWithin(QueueDemand other) =>
        _byQueue.All(kv => kv.Value.Cu <= other.For(kv.Key).Cu && kv.Value.Gpu <= other.For(kv.Key).Gpu);
}

/// <summary>
/// The resources of the autoscaler process a provider runs beside a cluster's head while autoscaling is on. It shares
/// the head's node (on Kubernetes it is a container of the head pod), so the head node's demand includes it. A provider
/// that runs no autoscaler process has <see cref="None"/>.
/// </summary>
public sealed record AutoscalerFootprint(long MilliCpu, long MemoryBytes)
{
    public static readonly AutoscalerFootprint None = new(0, 0);
}
