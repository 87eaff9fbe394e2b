using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;

namespace Rayfleet.Bench;

/// <summary>
/// The control plane under a burst of short Ray jobs (issue 10): the service in its own process on the simulated
/// provider, a fresh one per phase, signed requests. Phase 1 submits the jobs each with a job-mode cluster of its own
/// (headSpec only, ttlSecondsAfterFinished 0: the issue's main path, where every job is also a cluster's whole life);
/// phase 2 sends as many jobs to a few running clusters (only the job pass and Ray's Job API); phase 3, the baseline,
/// creates the very clusters that phase 1's jobs ask for with CreateRayCluster and waits until they run. Each phase
/// prints calls per second and seconds until everything finished, so that the ratios say what a job costs over its
/// cluster.
/// </summary>
public static class JobsRun
{
    public const int PageSize = 100;
    private const int KeptErrorMessages = 5;
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FinishTimeout = TimeSpan.FromMinutes(10);
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };
    private static readonly JsonSerializerOptions RequestJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static async Task<JobsReport> RunAsync(BenchOptions options, string workDirectory, CancellationToken ct)
    {
        var accessKey = options.SignRequests ? new AccessKey(AccessKeyStore.NewKeyId(), AccessKeyStore.NewSecret()) : null;
        var extraParam = JsonSerializer.Serialize(new { simulated = new { runSeconds = options.RunSeconds } });

        Console.WriteLine($"Phase 1: {options.Jobs} SubmitRayJob, each job on a job-mode cluster of its own, at concurrency {options.Concurrency}...");
        var jobMode = await WithServiceAsync("job-mode", options, workDirectory, accessKey, async (http, workspace, service) =>
        {
            var jobs = $"/api/v1/workspaces/{workspace}/rayJob";
            return await JobPhaseAsync("SubmitRayJob, job-mode", http, service, jobs, options,
                n => JobModeRequest(n, extraParam), ownsClusters: true, ct);
        }, ct);

        Console.WriteLine($"Phase 2: {options.Jobs} SubmitRayJob onto {options.Clusters} running clusters, at concurrency {options.Concurrency}...");
        var shared = await WithServiceAsync("shared", options, workDirectory, accessKey, async (http, workspace, service) =>
        {
            var clusters = $"/api/v1/workspaces/{workspace}/rayCluster";
            var ids = await CreateRunningClustersAsync(http, clusters, options.Clusters, ct);
            var jobs = $"/api/v1/workspaces/{workspace}/rayJob";
            return await JobPhaseAsync($"SubmitRayJob, {options.Clusters} clusters", http, service, jobs, options,
                n => new SubmitRayJobRequest { Name = $"bench-job-{n:0000}", Entrypoint = Entrypoint, ClusterId = ids[n % ids.Count], ExtraParam = extraParam },
                ownsClusters: false, ct);
        }, ct);

        Console.WriteLine($"Phase 3 (baseline): {options.Jobs} CreateRayCluster of the same job-mode clusters, at concurrency {options.Concurrency}...");
        var baseline = await WithServiceAsync("baseline", options, workDirectory, accessKey, async (http, workspace, service) =>
        {
            var clusters = $"/api/v1/workspaces/{workspace}/rayCluster";
            var rss = new RssProbe(service.ProcessId);
            var cpuBefore = rss.CpuTime();
            var load = LoadAverage();
            var calls = await CallAllAsync(http, clusters, options.Jobs, options.Concurrency,
                n => JobRules.ClusterRequestOf(JobModeRequest(n, extraParam), $"rj-bench{n:0000}"), "clusterId", ct);
            var done = await WaitClustersRunningAsync(http, clusters, calls, ct);
            return new PhaseFigures
            {
                Name = "CreateRayCluster (baseline)",
                Calls = calls.Summary,
                CallErrors = calls.Errors,
                ErrorSamples = calls.ErrorSamples,
                AllDoneSeconds = done.Seconds,
                Finished = done.Count,
                Outcomes = done.States,
                ServiceCpuMs = Math.Round((rss.CpuTime() - cpuBefore).TotalMilliseconds),
                ServiceWarnings = service.WarningCount,
                FirstWarnings = service.FirstWarnings,
                LoadAverageAtStart = load,
                LoadAverageAtEnd = LoadAverage(),
            };
        }, ct);

        return new JobsReport
        {
            Jobs = options.Jobs,
            Concurrency = options.Concurrency,
            RunSeconds = options.RunSeconds,
            Clusters = options.Clusters,
            NodeStartDelaySeconds = NodeStartDelaySeconds,
            SignedRequests = options.SignRequests,
            Reconciler = options.Reconciler,
            ProcessorCount = Environment.ProcessorCount,
            Runtime = RuntimeInformation.FrameworkDescription,
            JobMode = jobMode,
            Shared = shared,
            Baseline = baseline,
        };
    }

    private const string Entrypoint = "python -c \"print('bench')\"";

    /// <summary>The bench's simulated nodes become ready this long after they are created (ServiceHost's settings).</summary>
    private static double NodeStartDelaySeconds =>
        TimeSpan.Parse(ServiceHost.Settings("", true, null)["Rayfleet:Simulated:NodeStartDelay"]!, CultureInfo.InvariantCulture).TotalSeconds;

    /// <summary>A short job on a job-mode cluster of its own: the smallest head, no workers, deleted as soon as the job ends.</summary>
    private static SubmitRayJobRequest JobModeRequest(int n, string extraParam) => new()
    {
        Name = $"bench-job-{n:0000}",
        Entrypoint = Entrypoint,
        HeadSpec = new JobHeadSpecDto { Cpu = "1", Memory = "4Gi", QueueName = "root_queue" },
        TtlSecondsAfterFinished = 0,
        ExtraParam = extraParam,
    };

    private static async Task<PhaseFigures> WithServiceAsync(
        string name, BenchOptions options, string workDirectory, AccessKey? accessKey,
        Func<HttpClient, string, ServiceProcess, Task<PhaseFigures>> phase, CancellationToken ct)
    {
        var working = Directory.CreateDirectory(Path.Combine(workDirectory, name, "content")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(workDirectory, name, "service")).FullName;
        await using var service = await ServiceProcess.StartAsync(working, data, options.Reconciler, accessKey, ct);
        using var http = ApiLoad.CreateClient(service.BaseAddress, options.Concurrency + 1, accessKey);
        var workspace = await ServiceHost.DefaultWorkspaceAsync(http, service.BaseAddress, ct);
        service.ResetWarnings();
        var figures = await phase(http, workspace, service);
        if (service.HasExited)
            throw new BenchFailedException($"The service exited during phase {name} (code {service.ExitCode}):\n{service.RecentOutput}");
        return figures;
    }

    private static async Task<PhaseFigures> JobPhaseAsync(
        string name, HttpClient http, ServiceProcess service, string jobs, BenchOptions options, Func<int, SubmitRayJobRequest> request,
        bool ownsClusters, CancellationToken ct)
    {
        var rss = new RssProbe(service.ProcessId);
        var cpuBefore = rss.CpuTime();
        var load = LoadAverage();
        var calls = await CallAllAsync(http, jobs, options.Jobs, options.Concurrency, request, "submissionId", ct);
        var done = await WaitJobsFinishedAsync(http, jobs, calls, ownsClusters, ct);
        return new PhaseFigures
        {
            Name = name,
            Calls = calls.Summary,
            CallErrors = calls.Errors,
            ErrorSamples = calls.ErrorSamples,
            AllDoneSeconds = done.Seconds,
            Finished = done.Count,
            Outcomes = done.States,
            ClustersDeletedSeconds = done.ClustersDeletedSeconds,
            LastEndSeconds = done.LastEndSeconds,
            SubmitToStart = done.SubmitToStart,
            SubmitToEnd = done.SubmitToEnd,
            CuHours = done.CuHours,
            ServiceCpuMs = Math.Round((rss.CpuTime() - cpuBefore).TotalMilliseconds),
            ServiceWarnings = service.WarningCount,
            FirstWarnings = service.FirstWarnings,
            LoadAverageAtStart = load,
            LoadAverageAtEnd = LoadAverage(),
        };
    }

    /// <summary>
    /// <paramref name="count"/> POSTs from <paramref name="concurrency"/> closed-loop clients, each taking the next number;
    /// the rate is the calls over the time from the first send to the last answer.
    /// </summary>
    private static async Task<Calls> CallAllAsync<T>(
        HttpClient http, string path, int count, int concurrency, Func<int, T> body, string idField, CancellationToken ct)
    {
        var ids = new ConcurrentBag<string>();
        var errors = new ConcurrentQueue<string>();
        var errorCount = 0;
        var next = -1;
        var startedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var started = Stopwatch.GetTimestamp();
        var logs = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var log = new LatencyLog();
            for (var n = Interlocked.Increment(ref next); n < count; n = Interlocked.Increment(ref next))
            {
                var sent = Stopwatch.GetTimestamp();
                string? error = null;
                try
                {
                    using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body(n), RequestJson));
                    content.Headers.ContentType = JsonMediaType;
                    using var response = await http.PostAsync(new Uri(path, UriKind.Relative), content, ct);
                    var text = await response.Content.ReadAsStringAsync(ct);
                    if (response.StatusCode != HttpStatusCode.OK) error = $"{(int)response.StatusCode} {text}";
                    else if (JsonDocument.Parse(text).RootElement.TryGetProperty(idField, out var id) && id.GetString() is { Length: > 0 } value) ids.Add(value);
                    else error = $"200 without {idField}: {text}";
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    error = ex.GetType().Name + ": " + ex.Message;
                }
                if (error is null)
                {
                    log.Add(Stopwatch.GetTimestamp() - sent);
                    continue;
                }
                Interlocked.Increment(ref errorCount);
                if (errors.Count < KeptErrorMessages) errors.Enqueue(error);
            }
            return log;
        }, ct)));
        var elapsed = Stopwatch.GetElapsedTime(started);
        return new Calls([.. ids], LatencyLog.Summarize(logs, elapsed), errorCount, [.. errors], started, startedAtMs, elapsed);
    }

    /// <summary>
    /// Lists the jobs every half second until each has ended (and, for job-mode jobs, its cluster is gone), printing
    /// progress; the figures come from the last List, the service's own timestamps.
    /// </summary>
    private static async Task<Done> WaitJobsFinishedAsync(HttpClient http, string jobs, Calls calls, bool ownsClusters, CancellationToken ct)
    {
        var expected = calls.Ids.Count;
        double? finishedAt = null, deletedAt = null;
        var nextProgress = Stopwatch.GetTimestamp();
        List<RayJobSummaryDto> all;
        while (true)
        {
            all = await ListAllAsync<ListRayJobResponse, RayJobSummaryDto>(http, jobs, r => r.TotalCount, r => r.RayJobs, ct);
            var seconds = Stopwatch.GetElapsedTime(calls.Started).TotalSeconds;
            var ended = all.Count(j => JobStatus.IsTerminal(j.Status));
            if (finishedAt is null && ended >= expected) finishedAt = seconds;
            if (ownsClusters && deletedAt is null && ended >= expected && all.All(j => j.ClusterState == JobClusterState.Deleted)) deletedAt = seconds;
            if (finishedAt is not null && (!ownsClusters || deletedAt is not null)) break;
            if (Stopwatch.GetTimestamp() >= nextProgress)
            {
                Console.WriteLine(F("  {0,6:0.0} s: {1}/{2} ended ({3}){4}", seconds, ended, expected, Counts(all.Select(j => j.Status)),
                    ownsClusters ? $"; clusterState {Counts(all.Select(j => j.ClusterState))}" : ""));
                nextProgress = Stopwatch.GetTimestamp() + (long)(ProgressEvery.TotalSeconds * Stopwatch.Frequency);
            }
            if (seconds > calls.Elapsed.TotalSeconds + FinishTimeout.TotalSeconds)
            {
                Console.WriteLine($"  gave up after {FinishTimeout.TotalMinutes:0} minutes: {expected - ended} jobs have not ended.");
                break;
            }
            await Task.Delay(PollEvery, ct);
        }

        var finished = all.Where(j => j.EndTime is not null).ToList();
        return new Done
        {
            Seconds = finishedAt,
            Count = all.Count(j => JobStatus.IsTerminal(j.Status)),
            States = Counts(all.Select(j => j.Status)),
            ClustersDeletedSeconds = deletedAt,
            LastEndSeconds = finished.Count == 0 ? null : (finished.Max(j => j.EndTime!.Value) - calls.StartedAtMs) / 1000.0,
            SubmitToStart = Spread(all.Where(j => j.StartTime is not null).Select(j => j.StartTime!.Value - j.SubmitTime)),
            SubmitToEnd = Spread(finished.Select(j => j.EndTime!.Value - j.SubmitTime)),
            CuHours = Math.Round(all.Sum(j => j.CuHours), 4),
        };
    }

    /// <summary>Lists the clusters every half second until every one created runs (or failed).</summary>
    private static async Task<Done> WaitClustersRunningAsync(HttpClient http, string clusters, Calls calls, CancellationToken ct)
    {
        var expected = calls.Ids.Count;
        var nextProgress = Stopwatch.GetTimestamp();
        while (true)
        {
            var all = await ListAllAsync<ListRayClusterResponse, RayClusterSummaryDto>(http, clusters, r => r.TotalCount, r => r.RayClusters, ct);
            var seconds = Stopwatch.GetElapsedTime(calls.Started).TotalSeconds;
            var running = all.Count(c => c.State == "Running");
            var settled = all.Count(c => c.State is "Running" or "Error");
            var timedOut = seconds > calls.Elapsed.TotalSeconds + FinishTimeout.TotalSeconds;
            if (settled >= expected || timedOut)
            {
                if (timedOut) Console.WriteLine($"  gave up after {FinishTimeout.TotalMinutes:0} minutes: {expected - settled} clusters neither run nor failed.");
                return new Done { Seconds = settled >= expected ? seconds : null, Count = running, States = Counts(all.Select(c => c.State)) };
            }
            if (Stopwatch.GetTimestamp() >= nextProgress)
            {
                Console.WriteLine(F("  {0,6:0.0} s: {1}/{2} running ({3})", seconds, running, expected, Counts(all.Select(c => c.State))));
                nextProgress = Stopwatch.GetTimestamp() + (long)(ProgressEvery.TotalSeconds * Stopwatch.Frequency);
            }
            await Task.Delay(PollEvery, ct);
        }
    }

    private static async Task<List<string>> CreateRunningClustersAsync(HttpClient http, string clusters, int count, CancellationToken ct)
    {
        var calls = await CallAllAsync(http, clusters, count, Math.Min(count, 4), n => new RayClusterRequest
        {
            Name = $"bench-shared-{n}",
            HeadSpec = new HeadSpecDto { Cpu = "2", Memory = "8Gi", QueueName = "root_queue" },
        }, "clusterId", ct);
        if (calls.Errors > 0) throw new BenchFailedException($"CreateRayCluster failed: {string.Join("; ", calls.ErrorSamples)}");
        var done = await WaitClustersRunningAsync(http, clusters, calls, ct);
        if (done.Count != count) throw new BenchFailedException($"The {count} clusters for the jobs did not all run: {done.States}.");
        return [.. calls.Ids.Order(StringComparer.Ordinal)];
    }

    private static async Task<List<TItem>> ListAllAsync<TList, TItem>(
        HttpClient http, string path, Func<TList, int> total, Func<TList, List<TItem>> items, CancellationToken ct)
    {
        var all = new List<TItem>();
        for (var page = 1; ; page++)
        {
            var list = await http.GetFromJsonAsync<TList>(new Uri($"{path}?pageNum={page}&pageSize={PageSize}", UriKind.Relative), ct)
                       ?? throw new BenchFailedException($"GET {path} answered an empty body.");
            var got = items(list);
            all.AddRange(got);
            if (got.Count < PageSize || all.Count >= total(list)) return all;
        }
    }

    private static string Counts(IEnumerable<string> values) =>
        string.Join(", ", values.GroupBy(v => v).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));

    private static Spread? Spread(IEnumerable<long> millis)
    {
        var sorted = millis.Order().ToArray();
        if (sorted.Length == 0) return null;
        double At(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)] / 1000.0;
        return new Spread(At(0.50), At(0.95), sorted[^1] / 1000.0);
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

    public static void Print(JobsReport r, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine(F("Rayfleet jobs benchmark: {0} calls per phase at concurrency {1}; each job runs {2} s (extraParam simulated.runSeconds), simulated nodes are ready {3:0.#} s after creation;",
            r.Jobs, r.Concurrency, r.RunSeconds, r.NodeStartDelaySeconds));
        output.WriteLine(F("  the service in its own process (a fresh one per phase, default job poll interval), {0}{1}; {2} CPUs, {3}",
            r.SignedRequests ? "signed requests" : "UNSIGNED requests", r.Reconciler ? "" : ", reconciler OFF", r.ProcessorCount, r.Runtime));
        output.WriteLine();
        output.WriteLine(F("  {0,-30}{1,9}{2,9}{3,9}{4,9}{5,9}{6,8}{7,12}{8,14}", "phase", "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "all done s", "svc CPU ms/op"));
        foreach (var p in new[] { r.JobMode, r.Shared, r.Baseline })
            output.WriteLine(F("  {0,-30}{1,9:0.0}{2,9:0.0}{3,9:0.0}{4,9:0.0}{5,9:0.0}{6,8}{7,12}{8,14:0.0}",
                p.Name, p.Calls.PerSecond, p.Calls.P50Ms, p.Calls.P95Ms, p.Calls.P99Ms, p.Calls.MaxMs, p.CallErrors,
                p.AllDoneSeconds is { } s ? s.ToString("0.0", CultureInfo.InvariantCulture) : "never", r.Jobs == 0 ? 0 : p.ServiceCpuMs / r.Jobs));
        output.WriteLine("  all done: seconds from the first call until a List showed every job ended (baseline: every cluster Running),");
        output.WriteLine("  Lists every 0.5 s; svc CPU: the service process's CPU time from the first call until then, per call");
        output.WriteLine();
        output.WriteLine(F("  {0,-30}{1,24}{2,24}{3,14}  {4}", "per job (service's timestamps)", "submit->start p50/p95/max", "submit->end p50/p95/max", "last end s", "outcome"));
        foreach (var p in new[] { r.JobMode, r.Shared })
            output.WriteLine(F("  {0,-30}{1,24}{2,24}{3,14}  {4}", p.Name, Show(p.SubmitToStart), Show(p.SubmitToEnd),
                p.LastEndSeconds is { } e ? e.ToString("0.0", CultureInfo.InvariantCulture) : "-", p.Outcomes));
        output.WriteLine(F("  {0,-30}{1,24}{2,24}{3,14}  {4}", r.Baseline.Name, "", "", "", r.Baseline.Outcomes));
        if (r.JobMode.ClustersDeletedSeconds is { } deleted)
            output.WriteLine(F("  job-mode: every job's clusterState Deleted {0:0.0} s after the first submit; cuHours of all jobs {1}", deleted, r.JobMode.CuHours));
        output.WriteLine(F("  {0} clusters: cuHours of all jobs {1} (what each cluster used while the job ran)", r.Clusters, r.Shared.CuHours));
        output.WriteLine();
        output.WriteLine("Ratios (same run, same machine)");
        output.WriteLine(F("  SubmitRayJob/s job-mode / CreateRayCluster/s:        {0}", Ratio(r.JobMode.Calls.PerSecond, r.Baseline.Calls.PerSecond)));
        output.WriteLine(F("  SubmitRayJob/s on {0} clusters / CreateRayCluster/s:  {1}", r.Clusters, Ratio(r.Shared.Calls.PerSecond, r.Baseline.Calls.PerSecond)));
        output.WriteLine(F("  all jobs ended, job-mode / all clusters Running:    {0}", Ratio(r.JobMode.AllDoneSeconds, r.Baseline.AllDoneSeconds)));
        output.WriteLine(F("  all jobs ended, on {0} clusters / all clusters Running: {1}", r.Clusters, Ratio(r.Shared.AllDoneSeconds, r.Baseline.AllDoneSeconds)));
        foreach (var p in new[] { r.JobMode, r.Shared, r.Baseline })
        {
            output.WriteLine(F("  {0}: machine load average {1} at the start, {2} at the end; service warnings during the phase: {3}", p.Name,
                p.LoadAverageAtStart?.ToString("0.00", CultureInfo.InvariantCulture) ?? "?", p.LoadAverageAtEnd?.ToString("0.00", CultureInfo.InvariantCulture) ?? "?", p.ServiceWarnings));
            foreach (var w in p.FirstWarnings) output.WriteLine($"    {Truncate(w, 300)}");
            foreach (var e in p.ErrorSamples) output.WriteLine($"    error: {Truncate(e, 300)}");
        }
    }

    private static string Show(Spread? s) => s is null ? "-" : F("{0:0.0}/{1:0.0}/{2:0.0} s", s.P50, s.P95, s.Max);

    private static string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 ? (x / y).ToString("0.00", CultureInfo.InvariantCulture) : "-";

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "...";

    private static string F(string format, params object?[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    private sealed record Calls(
        List<string> Ids, LatencySummary Summary, int Errors, List<string> ErrorSamples, long Started, long StartedAtMs, TimeSpan Elapsed);

    private sealed record Done
    {
        public double? Seconds { get; init; }
        public int Count { get; init; }
        public required string States { get; init; }
        public double? ClustersDeletedSeconds { get; init; }
        public double? LastEndSeconds { get; init; }
        public Spread? SubmitToStart { get; init; }
        public Spread? SubmitToEnd { get; init; }
        public double CuHours { get; init; }
    }
}

/// <summary>Seconds: median, 95th percentile, maximum.</summary>
public sealed record Spread(double P50, double P95, double Max);

public sealed record PhaseFigures
{
    public required string Name { get; init; }
    /// <summary>The POSTs (SubmitRayJob or CreateRayCluster): rate over the time from the first send to the last answer.</summary>
    public required LatencySummary Calls { get; init; }
    public int CallErrors { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
    /// <summary>Seconds from the first call until a List showed every job ended (every cluster Running); null when never.</summary>
    public double? AllDoneSeconds { get; init; }
    public int Finished { get; init; }
    /// <summary>Final statuses (states), counted.</summary>
    public required string Outcomes { get; init; }
    public double? ClustersDeletedSeconds { get; init; }
    /// <summary>The latest job endTime, in seconds after the first call: when Ray ended the last job, before Rayfleet saw it.</summary>
    public double? LastEndSeconds { get; init; }
    public Spread? SubmitToStart { get; init; }
    public Spread? SubmitToEnd { get; init; }
    public double CuHours { get; init; }
    public double ServiceCpuMs { get; init; }
    public int ServiceWarnings { get; init; }
    public required IReadOnlyList<string> FirstWarnings { get; init; }
    public double? LoadAverageAtStart { get; init; }
    public double? LoadAverageAtEnd { get; init; }
}

public sealed record JobsReport
{
    public int Jobs { get; init; }
    public int Concurrency { get; init; }
    public int RunSeconds { get; init; }
    public int Clusters { get; init; }
    public double NodeStartDelaySeconds { get; init; }
    public bool SignedRequests { get; init; }
    public bool Reconciler { get; init; }
    public int ProcessorCount { get; init; }
    public required string Runtime { get; init; }
    public required PhaseFigures JobMode { get; init; }
    public required PhaseFigures Shared { get; init; }
    public required PhaseFigures Baseline { get; init; }

    public bool AllSucceeded =>
        JobMode.CallErrors + Shared.CallErrors + Baseline.CallErrors == 0
        && JobMode.AllDoneSeconds is not null && Shared.AllDoneSeconds is not null && Baseline.AllDoneSeconds is not null
        && JobMode.Outcomes == $"{JobStatus.Succeeded} {Jobs}" && Shared.Outcomes == $"{JobStatus.Succeeded} {Jobs}"
        && Baseline.Outcomes == $"Running {Jobs}";
}
