using System.Globalization;
using System.Text.Json;

namespace Rayfleet.Bench;

public static class ReportWriter
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static void Print(BenchReport report, TextWriter output)
    {
        var s = report.Settings;
        var load = report.Service.Load;
        var resources = report.Service.Resources;
        var baseline = report.Baseline.Inserts;
        var row = report.ClusterRowSize;

        output.WriteLine();
        output.WriteLine($"Rayfleet benchmark: concurrency {s.Concurrency}, {s.WarmupSeconds} s warmup + {s.DurationSeconds} s measured per phase, " +
                         $"{s.ProcessorCount} CPUs, {s.Runtime}, {(resources.ServerGc ? "server" : "workstation")} GC, {(s.SignedRequests ? "signed requests" : "UNSIGNED requests (insecure development mode)")}{(s.Reconciler ? "" : ", reconciler OFF")}");
        output.WriteLine($"Mix: {s.Mix}");
        output.WriteLine();
        output.WriteLine($"API ({report.Service.BaseAddress}, in process)");
        output.WriteLine(F("  {0,-18}{1,10}{2,10}{3,10}{4,10}{5,10}{6,9}", "operation", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"));
        output.WriteLine(Line("CreateRayCluster", load.Create, load.CreateErrors));
        output.WriteLine(Line("GetRayCluster", load.Get, load.GetErrors));
        output.WriteLine(F("  {0,-18}{1,10:0.0}", "all", load.Create.PerSecond + load.Get.PerSecond));
        output.WriteLine($"  reconciler: {report.Service.ReconcilePassesInWindow} passes in the window, {report.Service.ReconcileBacklogAtEnd} clusters queued or in a pass at its end; {load.ClustersCreated} clusters created in all");
        var service = report.Service;
        output.WriteLine(F("  store writer: {0} commits holding {1} changes ({2:0.0} per commit), busy {3:0.0} s of the {4} s window, {6:0.0} s of it in commits ({5:0.00} ms per change)",
            service.WriterCommits, service.WriterUnits, service.WriterCommits == 0 ? 0 : (double)service.WriterUnits / service.WriterCommits,
            service.WriterBusy.TotalSeconds, report.Settings.DurationSeconds, service.WriterUnits == 0 ? 0 : service.WriterBusy.TotalMilliseconds / service.WriterUnits,
            service.WriterCommitting.TotalSeconds));
        output.WriteLine(Cpu(resources));
        output.WriteLine(F("  memory: peak working set {0:0.0} MiB; GC heap {1:0.0} MiB at the end (max sampled {2:0.0} MiB); allocated {3:0.0} MiB in the window ({4:0.0} KiB per request); GCs gen0/1/2 {5}/{6}/{7}, pause {8:0.0} ms",
            MiB(resources.PeakWorkingSetBytes), MiB(resources.GcHeapSizeBytes), MiB(resources.MaxSampledGcHeapBytes), MiB(resources.AllocatedBytes),
            load.Create.Count + load.Get.Count == 0 ? 0 : resources.AllocatedBytes / 1024.0 / (load.Create.Count + load.Get.Count),
            resources.Gen0Collections, resources.Gen1Collections, resources.Gen2Collections, resources.GcPauseMs));
        foreach (var sample in load.ErrorSamples) output.WriteLine($"  error: {Truncate(sample, 300)}");
        output.WriteLine();
        output.WriteLine($"Cluster rows in the service's store: {row.Rows}, {row.MinBytes}/{row.MedianBytes}/{row.MaxBytes} bytes min/median/max (sum of column lengths)");
        output.WriteLine($"SQLite baseline: one INSERT per transaction, {report.Baseline.PayloadBytes}-byte TEXT payload + 2 id columns, WAL, " +
                         $"'{Rayfleet.Server.Hosting.SqlitePragmas.Statement}', {s.Concurrency} connections");
        output.WriteLine(F("  {0,-18}{1,10}{2,10}{3,10}{4,10}{5,10}", "operation", "ins/s", "p50 ms", "p95 ms", "p99 ms", "max ms"));
        output.WriteLine(Line("INSERT", baseline, null));
        output.WriteLine(Cpu(report.Baseline.Resources));
        output.WriteLine();
        output.WriteLine(F("CreateRayCluster/s as a fraction of baseline inserts/s: {0:0.000} (target >= {1:0.0}: {2})",
            report.CreateToBaseline, report.Target, report.CreateToBaseline >= report.Target ? "met" : "NOT met"));
        if (report.Errors > 0) output.WriteLine($"{report.Errors} requests failed.");
    }

    public static async Task WriteJsonAsync<T>(T report, string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, report, Json);
    }

    private static string Line(string name, LatencySummary l, int? errors) =>
        F("  {0,-18}{1,10:0.0}{2,10:0.00}{3,10:0.00}{4,10:0.00}{5,10:0.00}{6,9}", name, l.PerSecond, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs,
            errors?.ToString(CultureInfo.InvariantCulture) ?? "");

    private static string Cpu(ResourceFigures r) =>
        F("  cpu: this process kept {0:0.00} of {1} cores busy ({2:0} ms CPU time in the window); machine load average {3} at the start, {4} at the end",
            r.AverageCpuCores, Environment.ProcessorCount, r.CpuTimeMs, Load(r.LoadAverageAtStart), Load(r.LoadAverageAtEnd));

    private static string Load(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "unknown";

    private static string F(string format, params object[] args) => string.Format(CultureInfo.InvariantCulture, format, args);

    private static double MiB(long bytes) => bytes / 1024.0 / 1024.0;

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "...";
}
