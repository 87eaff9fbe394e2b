using System.Diagnostics;

namespace Rayfleet.Bench;

/// <summary>
/// The time frame of one phase on the <see cref="Stopwatch"/> clock: a warmup, then the measured window. An operation
/// counts when it started at or after the window opened and finished before it closed.
/// </summary>
public sealed class Window
{
    public Window(TimeSpan warmup, TimeSpan duration)
    {
        Start = Stopwatch.GetTimestamp();
        MeasureFrom = Start + Ticks(warmup);
        End = MeasureFrom + Ticks(duration);
        Duration = duration;
    }

    public long Start { get; }
    public long MeasureFrom { get; }
    public long End { get; }
    public TimeSpan Duration { get; }

    public bool IsOpen => Stopwatch.GetTimestamp() < End;

    public bool Counts(long started, long finished) => started >= MeasureFrom && finished <= End;

    public Task UntilMeasureAsync(CancellationToken ct = default) => DelayUntil(MeasureFrom, ct);

    public Task UntilEndAsync(CancellationToken ct = default) => DelayUntil(End, ct);

    private static Task DelayUntil(long timestamp, CancellationToken ct)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        return left > TimeSpan.Zero ? Task.Delay(left, ct) : Task.CompletedTask;
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}

/// <summary>Latencies (Stopwatch ticks) of the operations of one kind that one worker completed in the window.</summary>
public sealed class LatencyLog
{
    private readonly List<long> _ticks = new(capacity: 4096);

    public void Add(long ticks) => _ticks.Add(ticks);

    public static LatencySummary Summarize(IEnumerable<LatencyLog> logs, TimeSpan duration)
    {
        var all = logs.SelectMany(l => l._ticks).ToArray();
        Array.Sort(all);
        return new LatencySummary
        {
            Count = all.Length,
            PerSecond = all.Length / duration.TotalSeconds,
            P50Ms = Ms(Percentile(all, 0.50)),
            P95Ms = Ms(Percentile(all, 0.95)),
            P99Ms = Ms(Percentile(all, 0.99)),
            MaxMs = Ms(all.Length == 0 ? 0 : all[^1]),
            MeanMs = Ms(all.Length == 0 ? 0 : (long)all.Average()),
        };
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static long Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Ms(long ticks) => Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);
}

public sealed record LatencySummary
{
    public int Count { get; init; }
    public double PerSecond { get; init; }
    public double P50Ms { get; init; }
    public double P95Ms { get; init; }
    public double P99Ms { get; init; }
    public double MaxMs { get; init; }
    public double MeanMs { get; init; }
}
