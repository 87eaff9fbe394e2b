using System.Diagnostics;

namespace Rayfleet.Bench;

/// <summary>
/// CPU, memory and GC figures of this process over a measured window. Service and load clients share the process, so
/// the figures are both sides'.
/// </summary>
public static class ProcessFigures
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>Samples from the opening of the measured window until it closes.</summary>
    public static async Task<ResourceFigures> WatchAsync(Window window, CancellationToken ct)
    {
        await window.UntilMeasureAsync(ct);
        using var process = Process.GetCurrentProcess();
        var started = Stopwatch.GetTimestamp();
        var loadBefore = LoadAverage();
        var cpuBefore = process.TotalProcessorTime;
        var before = GcCounters.Now();
        long maxHeap = 0, maxWorkingSet = 0;
        while (window.IsOpen)
        {
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), window.End);
            await Task.Delay(left < SampleEvery ? left : SampleEvery, ct);
            process.Refresh();
            maxWorkingSet = Math.Max(maxWorkingSet, process.WorkingSet64);
            maxHeap = Math.Max(maxHeap, GC.GetTotalMemory(forceFullCollection: false));
        }
        var after = GcCounters.Now();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var elapsed = Stopwatch.GetElapsedTime(started);
        return new ResourceFigures
        {
            CpuTimeMs = Math.Round(cpu.TotalMilliseconds),
            AverageCpuCores = Math.Round(cpu / elapsed, 2),
            PeakWorkingSetBytes = process.PeakWorkingSet64,
            MaxSampledWorkingSetBytes = maxWorkingSet,
            GcHeapSizeBytes = GC.GetGCMemoryInfo().HeapSizeBytes,
            MaxSampledGcHeapBytes = maxHeap,
            AllocatedBytes = after.Allocated - before.Allocated,
            Gen0Collections = after.Gen0 - before.Gen0,
            Gen1Collections = after.Gen1 - before.Gen1,
            Gen2Collections = after.Gen2 - before.Gen2,
            GcPauseMs = Math.Round((after.Pause - before.Pause).TotalMilliseconds, 1),
            ServerGc = System.Runtime.GCSettings.IsServerGC,
            LoadAverageAtStart = loadBefore,
            LoadAverageAtEnd = LoadAverage(),
        };
    }

    /// <summary>The machine's 1-minute load average (Linux), to tell a run that shared the machine with other work.</summary>
    private static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed record GcCounters(long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Pause)
    {
        public static GcCounters Now() => new(
            GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
    }
}

public sealed record ResourceFigures
{
    /// <summary>User plus system CPU time of the process during the measured window.</summary>
    public double CpuTimeMs { get; init; }
    /// <summary>CPU time over wall time: 2.0 means two cores busy all the time.</summary>
    public double AverageCpuCores { get; init; }
    /// <summary>Peak resident set of the process since it started (VmHWM on Linux), read at the end of the window.</summary>
    public long PeakWorkingSetBytes { get; init; }
    public long MaxSampledWorkingSetBytes { get; init; }
    /// <summary>GC heap size after the last collection, at the end of the window.</summary>
    public long GcHeapSizeBytes { get; init; }
    public long MaxSampledGcHeapBytes { get; init; }
    /// <summary>Bytes allocated by the whole process during the measured window.</summary>
    public long AllocatedBytes { get; init; }
    public int Gen0Collections { get; init; }
    public int Gen1Collections { get; init; }
    public int Gen2Collections { get; init; }
    public double GcPauseMs { get; init; }
    public bool ServerGc { get; init; }
    /// <summary>The machine's 1-minute load average when the window opened and closed; null where unknown.</summary>
    public double? LoadAverageAtStart { get; init; }
    public double? LoadAverageAtEnd { get; init; }
}
