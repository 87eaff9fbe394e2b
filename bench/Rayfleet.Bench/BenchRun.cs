using System.Runtime.InteropServices;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;

namespace Rayfleet.Bench;

/// <summary>
/// One run: the API phase against the in-process service, then (service stopped) the SQLite baseline with a row of the
/// size the service stored, each with its own warmup and measured window.
/// </summary>
public static class BenchRun
{
    public const double Target = 0.5;

    public static async Task<BenchReport> RunAsync(BenchOptions options, string workDirectory, CancellationToken ct)
    {
        var contentRoot = Directory.CreateDirectory(Path.Combine(workDirectory, "content")).FullName;
        var serviceDirectory = Directory.CreateDirectory(Path.Combine(workDirectory, "service")).FullName;
        var baselineDirectory = Directory.CreateDirectory(Path.Combine(workDirectory, "baseline")).FullName;

        ServicePhase service;
        string serviceDatabase;
        var accessKey = options.SignRequests ? new AccessKey(AccessKeyStore.NewKeyId(), AccessKeyStore.NewSecret()) : null;
        await using (var host = await ServiceHost.StartAsync(contentRoot, serviceDirectory, options.Reconciler, accessKey, ct))
        {
            Console.WriteLine($"Service ready at {host.BaseAddress}; API phase: {options.WarmupSeconds} s warmup + {options.DurationSeconds} s measured...");
            service = await RunServiceAsync(host, options, accessKey, ct);
            serviceDatabase = host.DatabasePath;
        }

        if (service.Load.ClustersCreated == 0)
            throw new BenchFailedException("No CreateRayCluster call succeeded, so there is no row to size the baseline on. First errors:\n  "
                                           + string.Join("\n  ", service.Load.ErrorSamples));

        // Stopped now, so the reconciler's leftover work does not compete with the baseline; its store stays readable.
        var rowSize = await ClusterRowSize.MeasureAsync(serviceDatabase);
        Console.WriteLine($"SQLite baseline: {rowSize.MaxBytes}-byte payload, {options.WarmupSeconds} s warmup + {options.DurationSeconds} s measured...");
        var baselineWindow = new Window(options.Warmup, options.Duration);
        var baselineResources = ProcessFigures.WatchAsync(baselineWindow, ct);
        var inserts = await SqliteBaseline.RunAsync(Path.Combine(baselineDirectory, "baseline.db"), rowSize.MaxBytes, options.Concurrency, baselineWindow);
        var baseline = new BaselinePhase { Inserts = inserts, PayloadBytes = rowSize.MaxBytes, Resources = await baselineResources };

        return new BenchReport
        {
            Settings = new RunSettings
            {
                DurationSeconds = options.DurationSeconds,
                WarmupSeconds = options.WarmupSeconds,
                Concurrency = options.Concurrency,
                Mix = "each client alternates CreateRayCluster and GetRayCluster (1:1); Get reads a random cluster created earlier",
                Reconciler = options.Reconciler,
                SignedRequests = options.SignRequests,
                ProcessorCount = Environment.ProcessorCount,
                Runtime = RuntimeInformation.FrameworkDescription,
                Os = RuntimeInformation.OSDescription,
            },
            Service = service,
            ClusterRowSize = rowSize,
            Baseline = baseline,
            CreateToBaseline = baseline.Inserts.PerSecond > 0 ? Math.Round(service.Load.Create.PerSecond / baseline.Inserts.PerSecond, 3) : 0,
            Target = Target,
        };
    }

    private static async Task<ServicePhase> RunServiceAsync(ServiceHost host, BenchOptions options, AccessKey? accessKey, CancellationToken ct)
    {
        using var http = ApiLoad.CreateClient(host.BaseAddress, options.Concurrency, accessKey);
        var workspace = await host.DefaultWorkspaceAsync(http, ct);
        var load = new ApiLoad(http, workspace);

        var window = new Window(options.Warmup, options.Duration);
        var running = load.RunAsync(options.Concurrency, window, ct);
        var resources = ProcessFigures.WatchAsync(window, ct);
        await window.UntilMeasureAsync(ct);
        var passesBefore = host.Reconciler.PassCount;
        var (commitsBefore, unitsBefore) = host.Writer.Counts;
        var busyBefore = host.Writer.Busy;
        var committingBefore = host.Writer.Committing;
        await window.UntilEndAsync(ct);
        var passes = host.Reconciler.PassCount - passesBefore;
        var (commitsAfter, unitsAfter) = host.Writer.Counts;
        var backlog = host.Reconciler.QueueLength;

        return new ServicePhase
        {
            BaseAddress = host.BaseAddress.ToString(),
            Load = await running,
            Resources = await resources,
            ReconcilePassesInWindow = passes,
            ReconcileBacklogAtEnd = backlog,
            WriterCommits = commitsAfter - commitsBefore,
            WriterUnits = unitsAfter - unitsBefore,
            WriterBusy = host.Writer.Busy - busyBefore,
            WriterCommitting = host.Writer.Committing - committingBefore,
        };
    }
}

/// <summary>The run cannot produce its figures; the message says why.</summary>
public sealed class BenchFailedException : Exception
{
    public BenchFailedException()
    {
    }

    public BenchFailedException(string message) : base(message)
    {
    }

    public BenchFailedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

public sealed record BenchReport
{
    public required RunSettings Settings { get; init; }
    public required ServicePhase Service { get; init; }
    public required RowSizeResult ClusterRowSize { get; init; }
    public required BaselinePhase Baseline { get; init; }
    /// <summary>CreateRayCluster per second over baseline inserts per second.</summary>
    public double CreateToBaseline { get; init; }
    public double Target { get; init; }
    public int Errors => Service.Load.CreateErrors + Service.Load.GetErrors;
}

public sealed record RunSettings
{
    public int DurationSeconds { get; init; }
    public int WarmupSeconds { get; init; }
    public int Concurrency { get; init; }
    public required string Mix { get; init; }
    public bool Reconciler { get; init; }
    /// <summary>Requests signed with ACS3-HMAC-SHA256 (true), or unsigned to a service in insecure development mode.</summary>
    public bool SignedRequests { get; init; }
    public int ProcessorCount { get; init; }
    public required string Runtime { get; init; }
    public required string Os { get; init; }
}

public sealed record ServicePhase
{
    public required string BaseAddress { get; init; }
    public required ApiLoadResult Load { get; init; }
    public required ResourceFigures Resources { get; init; }
    public long ReconcilePassesInWindow { get; init; }
    /// <summary>Clusters queued for, or in, a reconcile pass when the window closed.</summary>
    public int ReconcileBacklogAtEnd { get; init; }
    /// <summary>The store writer in the window: commits, the changes they held, and the time it spent on them.</summary>
    public long WriterCommits { get; init; }
    public long WriterUnits { get; init; }
    public TimeSpan WriterBusy { get; init; }
    public TimeSpan WriterCommitting { get; init; }
}

public sealed record BaselinePhase
{
    public required LatencySummary Inserts { get; init; }
    /// <summary>Length of the TEXT payload of each row, besides its two id columns.</summary>
    public int PayloadBytes { get; init; }
    public required ResourceFigures Resources { get; init; }
}
