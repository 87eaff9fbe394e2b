using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;

namespace Rayfleet.Bench;

/// <summary>
/// What parallel Lists make the service hold (issue 8): the service in its own process with clusters of the largest
/// size a request can create; parallel ListRayCluster pageSize=100 loops and one GetRayCluster loop beside them; the
/// service's resident set before and at its peak during the window.
/// </summary>
public static class ListMemoryRun
{
    public const long TargetGrowthBytes = 100L * 1024 * 1024;
    public const int PageSize = 100;
    private const int Creators = 2;
    private const int KeptErrorMessages = 5;
    private static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(3);
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    public static async Task<ListMemoryReport> RunAsync(BenchOptions options, string workDirectory, CancellationToken ct)
    {
        var working = Directory.CreateDirectory(Path.Combine(workDirectory, "content")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(workDirectory, "service")).FullName;
        var accessKey = options.SignRequests ? new AccessKey(AccessKeyStore.NewKeyId(), AccessKeyStore.NewSecret()) : null;

        var createBytes = MaxSizeCluster.CreateBody("bench-list-0000").Length;
        List<string> ids;
        long afterCreate;
        string workspace;
        await using (var creating = await ServiceProcess.StartAsync(working, data, options.Reconciler, accessKey, ct))
        {
            using var client = ApiLoad.CreateClient(creating.BaseAddress, Creators, accessKey);
            workspace = await ServiceHost.DefaultWorkspaceAsync(client, creating.BaseAddress, ct);
            Console.WriteLine($"Creating {options.Clusters} clusters, {createBytes / 1024} KiB request body each...");
            ids = await CreateClustersAsync(client, $"/api/v1/workspaces/{workspace}/rayCluster", options.Clusters, ct);
            afterCreate = new RssProbe(creating.ProcessId).CurrentBytes();
        }

        // A fresh service on the same store: the garbage the creates left, collected or not depending on when the GC
        // last ran, would otherwise make the baseline, and so the growth, a matter of chance.
        await using var service = await ServiceProcess.StartAsync(working, data, options.Reconciler, accessKey, ct);
        var rss = new RssProbe(service.ProcessId);
        Console.WriteLine($"Service restarted on that store: process {service.ProcessId} at {service.BaseAddress}, RSS {MiB(rss.CurrentBytes()):0.0} MiB");
        using var http = ApiLoad.CreateClient(service.BaseAddress, options.Concurrency + 1, accessKey);
        var clusters = $"/api/v1/workspaces/{workspace}/rayCluster";
        if (options.Reconciler) await WaitSettledAsync(http, clusters, options.Clusters, ct);

        // One List and one Get before the baseline, so that it includes what any first request loads (JIT, pools);
        // everything the parallel load adds on top is growth.
        var (listBytes, listed) = await ListOnceAsync(http, clusters, ct);
        if (listed != Math.Min(PageSize, options.Clusters))
            throw new BenchFailedException($"ListRayCluster pageSize={PageSize} answered {listed} clusters, expected {Math.Min(PageSize, options.Clusters)}.");
        var getBytes = await GetOnceAsync(http, $"{clusters}/{ids[0]}", ct);
        await Task.Delay(Settle, ct);

        var baseline = rss.CurrentBytes();
        var exactPeak = rss.ResetPeak();
        Console.WriteLine($"Baseline RSS {MiB(baseline):0.0} MiB; {options.Concurrency} List loops + 1 Get loop for {options.DurationSeconds} s...");
        var errors = new ConcurrentQueue<string>();
        var cpuBefore = rss.CpuTime();
        var window = new Window(TimeSpan.Zero, options.Duration);
        var sampling = SampleAsync(rss, window, ct);
        var lists = Enumerable.Range(0, options.Concurrency)
            .Select(_ => Task.Run(() => LoopAsync(http, _ => $"{clusters}?pageNum=1&pageSize={PageSize}", window, errors, ct), ct))
            .ToArray();
        var gets = Task.Run(() => LoopAsync(http, random => $"{clusters}/{ids[random.Next(ids.Count)]}", window, errors, ct), ct);
        var listLogs = await Task.WhenAll(lists);
        var getLog = await gets;
        var (sampledPeak, samples) = await sampling;
        var cpu = rss.CpuTime() - cpuBefore;
        var kernelPeak = exactPeak ? rss.PeakBytes() : null;
        var peak = Math.Max(sampledPeak, kernelPeak ?? 0);
        var end = rss.CurrentBytes();
        if (service.HasExited)
            throw new BenchFailedException($"The service exited during the run (code {service.ExitCode}; RSS peak seen {MiB(sampledPeak):0.0} MiB):\n{service.RecentOutput}");

        return new ListMemoryReport
        {
            Clusters = options.Clusters,
            Concurrency = options.Concurrency,
            DurationSeconds = options.DurationSeconds,
            SignedRequests = options.SignRequests,
            Reconciler = options.Reconciler,
            ProcessorCount = Environment.ProcessorCount,
            Runtime = RuntimeInformation.FrameworkDescription,
            CreateBodyBytes = createBytes,
            ListResponseBytes = listBytes,
            GetResponseBytes = getBytes,
            RssAfterCreateBytes = afterCreate,
            BaselineRssBytes = baseline,
            PeakRssBytes = peak,
            PeakIsExact = kernelPeak is not null,
            RssSamples = samples,
            EndRssBytes = end,
            GrowthBytes = peak - baseline,
            ServiceCpuMs = Math.Round(cpu.TotalMilliseconds),
            LoadAverage = LoadAverage(),
            TargetGrowthBytes = TargetGrowthBytes,
            List = LatencyLog.Summarize(listLogs.Select(l => l.Latencies), window.Duration),
            Get = LatencyLog.Summarize([getLog.Latencies], window.Duration),
            ListErrors = listLogs.Sum(l => l.Errors),
            GetErrors = getLog.Errors,
            ErrorSamples = [.. errors],
        };
    }

    private static async Task<List<string>> CreateClustersAsync(HttpClient http, string clusters, int count, CancellationToken ct)
    {
        var ids = new ConcurrentBag<string>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Creators).Select(_ => Task.Run(async () =>
        {
            for (var n = Interlocked.Increment(ref next); n < count; n = Interlocked.Increment(ref next))
            {
                using var content = new ByteArrayContent(MaxSizeCluster.CreateBody($"bench-list-{n:0000}"));
                content.Headers.ContentType = JsonMediaType;
                using var response = await http.PostAsync(new Uri(clusters, UriKind.Relative), content, ct);
                if (response.StatusCode != HttpStatusCode.OK)
                    throw new BenchFailedException($"CreateRayCluster answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}\n" +
                                                   "Adjust the sizes in MaxSizeCluster to the service's limits.");
                var body = await response.Content.ReadFromJsonAsync<CreateRayClusterResponse>(ct);
                ids.Add(body?.ClusterId ?? throw new BenchFailedException("CreateRayCluster answered 200 without a clusterId."));
            }
        }, ct)));
        return [.. ids];
    }

    /// <summary>Until no cluster is on its way to Running, so that the reconciler's start-up work is not in the window.</summary>
    private static async Task WaitSettledAsync(HttpClient http, string clusters, int count, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(120 * Stopwatch.Frequency);
        while (true)
        {
            var waiting = 0;
            for (var page = 1; (page - 1) * PageSize < count; page++)
            {
                var list = await http.GetFromJsonAsync<ListRayClusterResponse>(new Uri($"{clusters}?pageNum={page}&pageSize={PageSize}", UriKind.Relative), ct);
                waiting += list?.RayClusters.Count(c => c.State is "Starting" or "Stopping") ?? count;
            }
            if (waiting == 0) return;
            if (Stopwatch.GetTimestamp() > deadline)
            {
                Console.WriteLine($"  {waiting} clusters still starting after 120 s; measuring anyway.");
                return;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    private static async Task<(long Bytes, int Clusters)> ListOnceAsync(HttpClient http, string clusters, CancellationToken ct)
    {
        var bytes = await http.GetByteArrayAsync(new Uri($"{clusters}?pageNum=1&pageSize={PageSize}", UriKind.Relative), ct);
        var list = JsonSerializer.Deserialize<ListRayClusterResponse>(bytes);
        return (bytes.Length, list?.RayClusters.Count ?? 0);
    }

    private static async Task<long> GetOnceAsync(HttpClient http, string path, CancellationToken ct) =>
        (await http.GetByteArrayAsync(new Uri(path, UriKind.Relative), ct)).Length;

    /// <summary>Closed loop: the next request as soon as the previous answer is read to its end (and dropped).</summary>
    private static async Task<LoopLog> LoopAsync(HttpClient http, Func<Random, string> path, Window window, ConcurrentQueue<string> errors, CancellationToken ct)
    {
        var log = new LoopLog();
        var random = new Random();
        while (window.IsOpen && !ct.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            var error = await Reads.GetToEndAsync(http, path(random), ct);
            var finished = Stopwatch.GetTimestamp();
            if (error is not null)
            {
                log.Errors++;
                if (errors.Count < KeptErrorMessages) errors.Enqueue(error);
            }
            else if (window.Counts(started, finished))
            {
                log.Latencies.Add(finished - started);
            }
        }
        return log;
    }

    private static async Task<(long Peak, int Samples)> SampleAsync(RssProbe rss, Window window, CancellationToken ct)
    {
        long peak = 0;
        var samples = 0;
        while (window.IsOpen)
        {
            peak = Math.Max(peak, rss.CurrentBytes());
            samples++;
            await Task.Delay(SampleEvery, ct);
        }
        return (Math.Max(peak, rss.CurrentBytes()), samples + 1);
    }

    public static void Print(ListMemoryReport r, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine(F("Rayfleet list-memory benchmark: {0} clusters ({1:0} KiB create body each), {2} parallel ListRayCluster pageSize={3} loops + 1 GetRayCluster loop, {4} s, {5} CPUs, {6}, {7}{8}",
            r.Clusters, r.CreateBodyBytes / 1024.0, r.Concurrency, PageSize, r.DurationSeconds, r.ProcessorCount, r.Runtime,
            r.SignedRequests ? "signed requests" : "UNSIGNED requests", r.Reconciler ? "" : ", reconciler OFF"));
        output.WriteLine(F("  response sizes: List {0:0.0} KiB, Get {1:0.0} KiB", r.ListResponseBytes / 1024.0, r.GetResponseBytes / 1024.0));
        output.WriteLine(F("  {0,-18}{1,10}{2,10}{3,10}{4,10}{5,10}{6,9}", "operation", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"));
        output.WriteLine(Line("ListRayCluster", r.List, r.ListErrors));
        output.WriteLine(Line("GetRayCluster", r.Get, r.GetErrors));
        var requests = r.List.Count + r.Get.Count;
        output.WriteLine(F("  service CPU: {0:0} ms in the window, {1:0.0} ms per request; machine load average {2} at the end",
            r.ServiceCpuMs, requests == 0 ? 0 : r.ServiceCpuMs / requests, r.LoadAverage?.ToString("0.00", CultureInfo.InvariantCulture) ?? "unknown"));
        foreach (var sample in r.ErrorSamples) output.WriteLine($"  error: {sample}");
        output.WriteLine(F("  service RSS: {0:0.0} MiB after the creates (before a restart), baseline {1:0.0} MiB, peak {2:0.0} MiB ({3}), {4:0.0} MiB at the end",
            MiB(r.RssAfterCreateBytes), MiB(r.BaselineRssBytes), MiB(r.PeakRssBytes),
            r.PeakIsExact ? "kernel high-water mark" : $"max of {r.RssSamples} samples", MiB(r.EndRssBytes)));
        output.WriteLine(F("Peak RSS growth: {0:0.0} MiB (target < {1:0} MiB: {2})",
            MiB(r.GrowthBytes), MiB(r.TargetGrowthBytes), r.TargetMet ? "met" : "NOT met"));
    }

    private static double? LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    private static string Line(string name, LatencySummary l, int errors) =>
        F("  {0,-18}{1,10:0.0}{2,10:0.00}{3,10:0.00}{4,10:0.00}{5,10:0.00}{6,9}", name, l.PerSecond, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, errors);

    private static string F(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    private static double MiB(long bytes) => bytes / 1024.0 / 1024.0;

    private sealed class LoopLog
    {
        public LatencyLog Latencies { get; } = new();
        public int Errors { get; set; }
    }
}

public sealed record ListMemoryReport
{
    public int Clusters { get; init; }
    public int Concurrency { get; init; }
    public int DurationSeconds { get; init; }
    public bool SignedRequests { get; init; }
    public bool Reconciler { get; init; }
    public int ProcessorCount { get; init; }
    public required string Runtime { get; init; }
    public int CreateBodyBytes { get; init; }
    public long ListResponseBytes { get; init; }
    public long GetResponseBytes { get; init; }
    public long RssAfterCreateBytes { get; init; }
    /// <summary>RSS of the service that was restarted after the creates, after one List, one Get and a pause; the growth
    /// is counted from here.</summary>
    public long BaselineRssBytes { get; init; }
    public long PeakRssBytes { get; init; }
    /// <summary>True when the peak is the kernel's high-water mark (VmHWM, reset at the baseline), not only samples.</summary>
    public bool PeakIsExact { get; init; }
    public int RssSamples { get; init; }
    public long EndRssBytes { get; init; }
    public long GrowthBytes { get; init; }
    /// <summary>CPU time the service process used in the window: on a shared machine, steadier than latencies.</summary>
    public double ServiceCpuMs { get; init; }
    public double? LoadAverage { get; init; }
    public long TargetGrowthBytes { get; init; }
    public bool TargetMet => GrowthBytes < TargetGrowthBytes;
    public required LatencySummary List { get; init; }
    public required LatencySummary Get { get; init; }
    public int ListErrors { get; init; }
    public int GetErrors { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
    public int Errors => ListErrors + GetErrors;
}
