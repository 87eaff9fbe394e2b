using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;

namespace Rayfleet.Bench;

/// <summary>
/// A burst of creates on the simulated provider (issue 11): the service in its own process with the provider's default
/// node start (2 s), signed requests; --clusters CreateRayCluster calls at --concurrency; seconds from the last create
/// until a census (ListRayCluster pageSize=100 pages, once a second) shows every cluster Running; then, with nothing
/// sent, the service's CPU time over one idle window as a share of one core; and the kernel's peak RSS over it all.
/// </summary>
public static class BurstRun
{
    public const double TargetRunningSeconds = 30;
    public const long TargetPeakRssBytes = 200L * 1000 * 1000;
    public const double TargetIdleCorePercent = 5;
    private static readonly TimeSpan PollEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RunningTimeout = TimeSpan.FromMinutes(10);

    public static async Task<BurstReport> RunAsync(BenchOptions options, string workDirectory, CancellationToken ct)
    {
        var working = Directory.CreateDirectory(Path.Combine(workDirectory, "content")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(workDirectory, "service")).FullName;
        var accessKey = options.SignRequests ? new AccessKey(AccessKeyStore.NewKeyId(), AccessKeyStore.NewSecret()) : null;
        // The bench's other modes start nodes after 1 s; this one keeps the provider's default, as the issue measures.
        var defaults = new Dictionary<string, string?> { ["Rayfleet:Simulated:NodeStartDelay"] = null };
        await using var service = await ServiceProcess.StartAsync(working, data, options.Reconciler, accessKey, ct, defaults);
        using var http = ApiLoad.CreateClient(service.BaseAddress, options.Concurrency + 1, accessKey);
        var workspace = await ServiceHost.DefaultWorkspaceAsync(http, service.BaseAddress, ct);
        var clusters = $"/api/v1/workspaces/{workspace}/rayCluster";
        var rss = new RssProbe(service.ProcessId);
        service.ResetWarnings();

        Console.WriteLine($"Creating {options.Clusters} clusters at concurrency {options.Concurrency} (service process {service.ProcessId})...");
        var creates = await ClusterCreates.RunAsync(http, clusters, options.Clusters, options.Concurrency, "bench-burst", ct);
        Console.WriteLine(F("  {0} created in {1:0.0} s ({2} errors); waiting until every one is Running...", creates.Ids.Count, creates.Seconds, creates.Errors));

        double? runningSeconds = null;
        Census census;
        var nextProgress = Stopwatch.GetTimestamp();
        while (true)
        {
            census = await ClusterCreates.CountStatesAsync(http, clusters, ct);
            var seconds = Stopwatch.GetElapsedTime(creates.FinishedAt).TotalSeconds;
            if (census.Count("Running") >= creates.Ids.Count)
            {
                runningSeconds = seconds;
                break;
            }
            if (census.Count("Running") + census.Count("Error") >= creates.Ids.Count) break;
            if (seconds > RunningTimeout.TotalSeconds)
            {
                Console.WriteLine($"  gave up after {RunningTimeout.TotalMinutes:0} minutes: {census}");
                break;
            }
            if (Stopwatch.GetTimestamp() >= nextProgress)
            {
                Console.WriteLine(F("  {0,6:0.0} s after the last create: {1}{2}", seconds, census, census.Waiting.Length == 0 ? "" : "; " + census.Waiting));
                nextProgress = Stopwatch.GetTimestamp() + (long)(ProgressEvery.TotalSeconds * Stopwatch.Frequency);
            }
            await Task.Delay(PollEvery, ct);
        }
        var rssRunning = rss.CurrentBytes();

        Console.WriteLine($"Idle for {options.IdleSeconds} s with {census.Count("Running")} clusters Running, nothing sent...");
        var cpuBefore = rss.CpuTime();
        var idleStarted = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(options.IdleSeconds), ct);
        var idleCpu = rss.CpuTime() - cpuBefore;
        var idleWall = Stopwatch.GetElapsedTime(idleStarted);
        var peak = rss.PeakBytes();
        var end = rss.CurrentBytes();
        if (service.HasExited)
            throw new BenchFailedException($"The service exited during the run (code {service.ExitCode}):\n{service.RecentOutput}");

        return new BurstReport
        {
            Clusters = options.Clusters,
            Concurrency = options.Concurrency,
            SignedRequests = options.SignRequests,
            Reconciler = options.Reconciler,
            ProcessorCount = Environment.ProcessorCount,
            Runtime = RuntimeInformation.FrameworkDescription,
            Creates = creates.Summary,
            CreateSeconds = creates.Seconds,
            CreateErrors = creates.Errors,
            ErrorSamples = creates.ErrorSamples,
            RunningSeconds = runningSeconds,
            FinalStates = census.ToString(),
            RssAllRunningBytes = rssRunning,
            PeakRssBytes = peak ?? Math.Max(rssRunning, end),
            PeakIsExact = peak is not null,
            EndRssBytes = end,
            IdleSeconds = idleWall.TotalSeconds,
            IdleCpuMs = Math.Round(idleCpu.TotalMilliseconds),
            IdleCorePercent = Math.Round(idleCpu.TotalSeconds / idleWall.TotalSeconds * 100, 2),
            ServiceWarnings = service.WarningCount,
            FirstWarnings = service.FirstWarnings,
        };
    }

    public static void Print(BurstReport r, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine(F("Rayfleet burst benchmark: {0} CreateRayCluster at concurrency {1}, simulated provider with its default node start, the service in its own process, {2}{3}; {4} CPUs, {5}",
            r.Clusters, r.Concurrency, r.SignedRequests ? "signed requests" : "UNSIGNED requests", r.Reconciler ? "" : ", resync OFF", r.ProcessorCount, r.Runtime));
        output.WriteLine(F("  creates: {0:0.0}/s over {1:0.0} s, p50 {2:0.0} ms, p99 {3:0.0} ms, max {4:0.0} ms, {5} errors",
            r.Creates.PerSecond, r.CreateSeconds, r.Creates.P50Ms, r.Creates.P99Ms, r.Creates.MaxMs, r.CreateErrors));
        foreach (var e in r.ErrorSamples) output.WriteLine($"    error: {e}");
        output.WriteLine(F("  every cluster Running: {0} after the last create (target <= {1:0} s: {2}); states at the end: {3}",
            r.RunningSeconds is { } s ? s.ToString("0.0 s", CultureInfo.InvariantCulture) : "never", TargetRunningSeconds,
            r.RunningSecondsMet ? "met" : "NOT met", r.FinalStates));
        output.WriteLine(F("  service RSS: peak {0:0.0} MB ({1}; target <= {2:0} MB: {3}), {4:0.0} MB when all ran, {5:0.0} MB at the end",
            MB(r.PeakRssBytes), r.PeakIsExact ? "kernel high-water mark VmHWM" : "samples only", MB(TargetPeakRssBytes),
            r.PeakRssMet ? "met" : "NOT met", MB(r.RssAllRunningBytes), MB(r.EndRssBytes)));
        output.WriteLine(F("  idle: {0:0} ms service CPU in {1:0.0} s = {2:0.00}% of one core (target <= {3:0}%: {4})",
            r.IdleCpuMs, r.IdleSeconds, r.IdleCorePercent, TargetIdleCorePercent, r.IdleMet ? "met" : "NOT met"));
        output.WriteLine($"  service warnings: {r.ServiceWarnings}");
        foreach (var w in r.FirstWarnings) output.WriteLine($"    {(w.Length <= 300 ? w : w[..300] + "...")}");
    }

    private static double MB(long bytes) => bytes / 1e6;

    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);
}

public sealed record BurstReport
{
    public int Clusters { get; init; }
    public int Concurrency { get; init; }
    public bool SignedRequests { get; init; }
    public bool Reconciler { get; init; }
    public int ProcessorCount { get; init; }
    public required string Runtime { get; init; }
    public required LatencySummary Creates { get; init; }
    public double CreateSeconds { get; init; }
    public int CreateErrors { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
    /// <summary>Seconds from the last create's answer until a census showed every cluster Running; null when never.</summary>
    public double? RunningSeconds { get; init; }
    public required string FinalStates { get; init; }
    public long RssAllRunningBytes { get; init; }
    /// <summary>The kernel's high-water mark over the service's whole life (start, creates, reconciling, idle).</summary>
    public long PeakRssBytes { get; init; }
    public bool PeakIsExact { get; init; }
    public long EndRssBytes { get; init; }
    public double IdleSeconds { get; init; }
    public double IdleCpuMs { get; init; }
    /// <summary>Service CPU time in the idle window over its wall time, in percent of one core.</summary>
    public double IdleCorePercent { get; init; }
    public int ServiceWarnings { get; init; }
    public required IReadOnlyList<string> FirstWarnings { get; init; }

    public bool RunningSecondsMet => RunningSeconds is { } s && s <= BurstRun.TargetRunningSeconds;
    public bool PeakRssMet => PeakRssBytes <= BurstRun.TargetPeakRssBytes;
    public bool IdleMet => IdleCorePercent <= BurstRun.TargetIdleCorePercent;
    public bool TargetsMet => CreateErrors == 0 && RunningSecondsMet && PeakRssMet && IdleMet;
}
