using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;

namespace Rayfleet.Bench;

/// <summary>
/// Reads of one workspace that holds many clusters (issue 11): the service in its own process, seeded through the API
/// (CreateRayCluster at --concurrency, the way every other mode seeds, so that the rows are what a request writes; the
/// service has no setting that turns its reconciler off, so it settles first: the run waits until the service is
/// quiet); then, one client at a time, ListRayCluster pageSize=20 on the first page, on the last page, and
/// GetRayCluster of random clusters, --duration seconds each; the service's RSS while it served them.
/// </summary>
public static class ListScaleRun
{
    public const int PageSize = 20;
    public const double TargetListP99Ms = 20;
    public const double TargetGetP99Ms = 5;
    public const long TargetRssBytes = 300L * 1000 * 1000;
    private static readonly TimeSpan QuietWindow = TimeSpan.FromSeconds(2);
    private const double QuietCorePercent = 10;
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromMinutes(5);

    public static async Task<ListScaleReport> RunAsync(BenchOptions options, string workDirectory, CancellationToken ct)
    {
        var working = Directory.CreateDirectory(Path.Combine(workDirectory, "content")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(workDirectory, "service")).FullName;
        var accessKey = options.SignRequests ? new AccessKey(AccessKeyStore.NewKeyId(), AccessKeyStore.NewSecret()) : null;
        await using var service = await ServiceProcess.StartAsync(working, data, options.Reconciler, accessKey, ct);
        using var http = ApiLoad.CreateClient(service.BaseAddress, options.Concurrency + 1, accessKey);
        var workspace = await ServiceHost.DefaultWorkspaceAsync(http, service.BaseAddress, ct);
        var clusters = $"/api/v1/workspaces/{workspace}/rayCluster";
        var rss = new RssProbe(service.ProcessId);

        Console.WriteLine($"Seeding {options.Clusters} clusters through CreateRayCluster at concurrency {options.Concurrency} (service process {service.ProcessId})...");
        var seed = await ClusterCreates.RunAsync(http, clusters, options.Clusters, options.Concurrency, "bench-scale", ct);
        if (seed.Errors > 0) throw new BenchFailedException($"{seed.Errors} creates failed: {string.Join("; ", seed.ErrorSamples)}");
        Console.WriteLine(F("  {0} created in {1:0.0} s ({2:0.0}/s); waiting until the service is quiet (under {3:0}% of a core over {4:0} s)...",
            seed.Ids.Count, seed.Seconds, seed.Summary.PerSecond, QuietCorePercent, QuietWindow.TotalSeconds));
        var (settleSeconds, quiet) = await WaitQuietAsync(rss, ct);

        var first = await http.GetFromJsonAsync<ListRayClusterResponse>(new Uri($"{clusters}?pageNum=1&pageSize={PageSize}", UriKind.Relative), ct)
                    ?? throw new BenchFailedException("ListRayCluster answered an empty body.");
        if (first.TotalCount != seed.Ids.Count) throw new BenchFailedException($"ListRayCluster totalCount {first.TotalCount}, expected {seed.Ids.Count}.");
        var lastPage = (first.TotalCount + PageSize - 1) / PageSize;
        var rssBefore = rss.CurrentBytes();
        var exactPeak = rss.ResetPeak();

        Console.WriteLine($"One client each, {options.DurationSeconds} s after {options.WarmupSeconds} s warmup: ListRayCluster page 1, page {lastPage}, GetRayCluster...");
        var firstPage = await LoopAsync(http, _ => $"{clusters}?pageNum=1&pageSize={PageSize}", options, ct);
        var last = await LoopAsync(http, _ => $"{clusters}?pageNum={lastPage}&pageSize={PageSize}", options, ct);
        var get = await LoopAsync(http, random => $"{clusters}/{seed.Ids[random.Next(seed.Ids.Count)]}", options, ct);
        var peak = exactPeak ? rss.PeakBytes() : null;
        var end = rss.CurrentBytes();
        if (service.HasExited)
            throw new BenchFailedException($"The service exited during the run (code {service.ExitCode}):\n{service.RecentOutput}");

        return new ListScaleReport
        {
            Clusters = seed.Ids.Count,
            SeedConcurrency = options.Concurrency,
            SeedPerSecond = seed.Summary.PerSecond,
            SeedSeconds = seed.Seconds,
            SettleSeconds = settleSeconds,
            SettledQuiet = quiet,
            DurationSeconds = options.DurationSeconds,
            LastPage = lastPage,
            SignedRequests = options.SignRequests,
            Reconciler = options.Reconciler,
            ProcessorCount = Environment.ProcessorCount,
            Runtime = RuntimeInformation.FrameworkDescription,
            FirstPage = firstPage.Summary,
            LastPageList = last.Summary,
            Get = get.Summary,
            Errors = firstPage.Errors + last.Errors + get.Errors,
            ErrorSamples = [.. firstPage.ErrorSamples.Concat(last.ErrorSamples).Concat(get.ErrorSamples).Take(5)],
            RssBeforeBytes = rssBefore,
            PeakRssBytes = Math.Max(peak ?? 0, Math.Max(rssBefore, end)),
            PeakIsExact = peak is not null,
            EndRssBytes = end,
        };
    }

    /// <summary>Seconds until the service used under <see cref="QuietCorePercent"/>% of a core over a <see cref="QuietWindow"/>.</summary>
    private static async Task<(double Seconds, bool Quiet)> WaitQuietAsync(RssProbe rss, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < SettleTimeout)
        {
            var before = rss.CpuTime();
            await Task.Delay(QuietWindow, ct);
            var percent = (rss.CpuTime() - before).TotalSeconds / QuietWindow.TotalSeconds * 100;
            if (percent < QuietCorePercent) return (Stopwatch.GetElapsedTime(started).TotalSeconds, true);
        }
        Console.WriteLine($"  the service was still busy after {SettleTimeout.TotalMinutes:0} minutes; measuring anyway.");
        return (Stopwatch.GetElapsedTime(started).TotalSeconds, false);
    }

    /// <summary>One closed-loop client: the next GET as soon as the previous answer is read to its end.</summary>
    private static async Task<Loop> LoopAsync(HttpClient http, Func<Random, string> path, BenchOptions options, CancellationToken ct)
    {
        var log = new LatencyLog();
        var errors = 0;
        var samples = new List<string>();
        var random = new Random(1);
        var window = new Window(options.Warmup, options.Duration);
        while (window.IsOpen && !ct.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            var error = await Reads.GetToEndAsync(http, path(random), ct);
            var finished = Stopwatch.GetTimestamp();
            if (error is not null)
            {
                errors++;
                if (samples.Count < 2) samples.Add(error);
            }
            else if (window.Counts(started, finished))
            {
                log.Add(finished - started);
            }
        }
        return new Loop(LatencyLog.Summarize([log], window.Duration), errors, samples);
    }

    public static void Print(ListScaleReport r, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine(F("Rayfleet list-scale benchmark: {0} clusters in one workspace (seeded through CreateRayCluster at concurrency {1}: {2:0.0}/s, {3:0.0} s, then {4:0.0} s waiting for the service to go quiet: {9}), the service in its own process, {5}{6}; {7} CPUs, {8}",
            r.Clusters, r.SeedConcurrency, r.SeedPerSecond, r.SeedSeconds, r.SettleSeconds,
            r.SignedRequests ? "signed requests" : "UNSIGNED requests", r.Reconciler ? "" : ", resync OFF", r.ProcessorCount, r.Runtime,
            r.SettledQuiet ? "it did" : "it was still BUSY reconciling, and the reads ran beside that"));
        output.WriteLine(F("  one client at a time, {0} s each; pageSize {1}", r.DurationSeconds, PageSize));
        output.WriteLine(F("  {0,-30}{1,10}{2,10}{3,10}{4,10}{5,10}  {6}", "operation", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "target"));
        output.WriteLine(Line("ListRayCluster page 1", r.FirstPage, TargetListP99Ms));
        output.WriteLine(Line($"ListRayCluster page {r.LastPage}", r.LastPageList, TargetListP99Ms));
        output.WriteLine(Line("GetRayCluster", r.Get, TargetGetP99Ms));
        output.WriteLine(F("  errors: {0}", r.Errors));
        foreach (var e in r.ErrorSamples) output.WriteLine($"    error: {e}");
        output.WriteLine(F("  service RSS: {0:0.0} MB before the reads, peak {1:0.0} MB during them ({2}; target <= {3:0} MB: {4}), {5:0.0} MB at the end",
            MB(r.RssBeforeBytes), MB(r.PeakRssBytes), r.PeakIsExact ? "kernel high-water mark VmHWM" : "samples only", MB(TargetRssBytes),
            r.RssMet ? "met" : "NOT met", MB(r.EndRssBytes)));
    }

    private static string Line(string name, LatencySummary l, double targetP99) =>
        F("  {0,-30}{1,10:0.0}{2,10:0.00}{3,10:0.00}{4,10:0.00}{5,10:0.00}  p99 <= {6:0} ms: {7}",
            name, l.PerSecond, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, targetP99, ListScaleReport.Met(l, targetP99) ? "met" : "NOT met");

    private static double MB(long bytes) => bytes / 1e6;

    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    private sealed record Loop(LatencySummary Summary, int Errors, List<string> ErrorSamples);
}

public sealed record ListScaleReport
{
    public int Clusters { get; init; }
    public int SeedConcurrency { get; init; }
    public double SeedPerSecond { get; init; }
    public double SeedSeconds { get; init; }
    public double SettleSeconds { get; init; }
    /// <summary>False when the reconciler was still busy with the seeded clusters when the reads began.</summary>
    public bool SettledQuiet { get; init; }
    public int DurationSeconds { get; init; }
    public int LastPage { get; init; }
    public bool SignedRequests { get; init; }
    public bool Reconciler { get; init; }
    public int ProcessorCount { get; init; }
    public required string Runtime { get; init; }
    public required LatencySummary FirstPage { get; init; }
    public required LatencySummary LastPageList { get; init; }
    public required LatencySummary Get { get; init; }
    public int Errors { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
    public long RssBeforeBytes { get; init; }
    /// <summary>The kernel's high-water mark over the reads (reset before them).</summary>
    public long PeakRssBytes { get; init; }
    public bool PeakIsExact { get; init; }
    public long EndRssBytes { get; init; }

    public bool RssMet => PeakRssBytes <= ListScaleRun.TargetRssBytes;

    public bool TargetsMet => Errors == 0 && RssMet && Met(FirstPage, ListScaleRun.TargetListP99Ms)
                              && Met(LastPageList, ListScaleRun.TargetListP99Ms) && Met(Get, ListScaleRun.TargetGetP99Ms);

    internal static bool Met(LatencySummary l, double targetP99Ms) => l.Count > 0 && l.P99Ms <= targetP99Ms;
}
