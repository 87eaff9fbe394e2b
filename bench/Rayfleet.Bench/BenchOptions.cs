using System.Globalization;

namespace Rayfleet.Bench;

/// <summary>Command line: <c>[--mode api|list-memory|jobs|burst|list-scale] [--duration 20] [--concurrency 16] [--warmup 3] [--clusters 100] [--jobs 1000] [--run-seconds 1] [--idle-seconds 60] [--out FILE] [--insecure] [--no-reconciler]</c>.</summary>
public sealed record BenchOptions
{
    public const string Usage =
        "Usage: dotnet run -c Release --project bench/Rayfleet.Bench -- [--mode api|list-memory|jobs|burst|list-scale] [--duration SECONDS] [--concurrency N] [--warmup SECONDS] [--clusters N] [--jobs N] [--run-seconds N] [--idle-seconds N] [--out FILE] [--insecure] [--no-reconciler]\n" +
        "  --mode           api (default): CreateRayCluster/GetRayCluster throughput against the in-process service, next to\n" +
        "                   a SQLite baseline. list-memory: the service in its own process holding --clusters clusters of the\n" +
        "                   largest size a request can create; --concurrency parallel ListRayCluster pageSize=100 loops and\n" +
        "                   one GetRayCluster loop for --duration seconds; prints the service's RSS growth (target < 100 MiB)\n" +
        "                   jobs: the service in its own process on the simulated provider; --jobs SubmitRayJob calls at\n" +
        "                   --concurrency, each job running --run-seconds, first each on a job-mode cluster of its own, then\n" +
        "                   on --clusters running clusters, then the baseline: as many CreateRayCluster calls of the job-mode\n" +
        "                   cluster; prints submissions per second and seconds until every job finished (every cluster ran)\n" +
        "                   burst: the service in its own process on the simulated provider with its default 2 s node start;\n" +
        "                   --clusters CreateRayCluster at --concurrency; prints creates/s, p50/p99, seconds from the last\n" +
        "                   create until every cluster is Running, the peak RSS, and the service's CPU in --idle-seconds\n" +
        "                   idle seconds after that, as % of one core, each next to its target\n" +
        "                   list-scale: the service in its own process seeded with --clusters clusters in one workspace\n" +
        "                   (CreateRayCluster at --concurrency), then one client at a time: ListRayCluster pageSize=20 first\n" +
        "                   page, last page, GetRayCluster, --duration seconds each; latencies and RSS next to the targets\n" +
        "  --duration       measured seconds of each phase (default 20; list-memory: 30; list-scale: 10 per operation)\n" +
        "  --concurrency    parallel clients against the API, and parallel writers in the SQLite baseline (default 16;\n" +
        "                   list-memory: parallel List loops, default 8)\n" +
        "  --clusters       list-memory: clusters created before the Lists (default 100); jobs: the running clusters the\n" +
        "                   second phase sends its jobs to (default 4); burst: clusters created (default 10000);\n" +
        "                   list-scale: clusters in the workspace (default 100000)\n" +
        "  --jobs           jobs: jobs submitted per phase, and clusters created by the baseline (default 1000)\n" +
        "  --run-seconds    jobs: how long each simulated job runs (extraParam simulated.runSeconds; default 1)\n" +
        "  --idle-seconds   burst: the idle window whose service CPU is measured (default 60)\n" +
        "  --warmup         seconds run before each phase's measurement and left out of it (default 3)\n" +
        "  --out            also write the results as JSON to FILE\n" +
        "  --insecure       send unsigned requests to the service in insecure development mode (default: every request\n" +
        "                   signed with ACS3-HMAC-SHA256 by an admin access key, as a deployed service requires)\n" +
        "  --no-reconciler  diagnostic: creates do not wake the reconciler and the periodic resync is off (the service in\n" +
        "                   its own process, every mode but api: only the periodic resync is off)\n" +
        "Exit code: 0 when every request succeeded (list-memory: and the growth stayed under its target; jobs: and every job\n" +
        "succeeded and every cluster ran in time;\n" +
        "burst, list-scale: and every target was met), 1 otherwise or when the run could not finish, 2 for a bad command line.";

    public BenchMode Mode { get; init; } = BenchMode.Api;
    private int? _duration;
    private int? _concurrency;
    public int DurationSeconds { get => _duration ?? Mode switch { BenchMode.ListMemory => 30, BenchMode.ListScale => 10, _ => 20 }; init => _duration = value; }
    public int Concurrency { get => _concurrency ?? (Mode == BenchMode.ListMemory ? 8 : 16); init => _concurrency = value; }
    private int? _clusters;
    public int Clusters
    {
        get => _clusters ?? Mode switch { BenchMode.Jobs => 4, BenchMode.Burst => 10_000, BenchMode.ListScale => 100_000, _ => 100 };
        init => _clusters = value;
    }
    public int Jobs { get; init; } = 1000;
    public int RunSeconds { get; init; } = 1;
    public int IdleSeconds { get; init; } = 60;
    public int WarmupSeconds { get; init; } = 3;
    public string? OutFile { get; init; }
    public bool Reconciler { get; init; } = true;
    public bool SignRequests { get; init; } = true;
    public bool Help { get; init; }

    public TimeSpan Duration => TimeSpan.FromSeconds(DurationSeconds);
    public TimeSpan Warmup => TimeSpan.FromSeconds(WarmupSeconds);

    /// <summary>The options, or null with <paramref name="error"/> set when the command line is not understood.</summary>
    public static BenchOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var options = new BenchOptions();
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? Value() => i + 1 < args.Count ? args[++i] : null;
            switch (arg)
            {
                case "--duration" when PositiveInt(Value()) is { } v:
                    options = options with { DurationSeconds = v };
                    break;
                case "--concurrency" when PositiveInt(Value()) is { } v:
                    options = options with { Concurrency = v };
                    break;
                case "--warmup" when NonNegativeInt(Value()) is { } v:
                    options = options with { WarmupSeconds = v };
                    break;
                case "--mode" when Value() is { } v && ModeNamed(v) is { } mode:
                    options = options with { Mode = mode };
                    break;
                case "--clusters" when PositiveInt(Value()) is { } v:
                    options = options with { Clusters = v };
                    break;
                case "--jobs" when PositiveInt(Value()) is { } v:
                    options = options with { Jobs = v };
                    break;
                case "--run-seconds" when NonNegativeInt(Value()) is { } v && v <= 86_400:
                    options = options with { RunSeconds = v };
                    break;
                case "--idle-seconds" when PositiveInt(Value()) is { } v && v <= 86_400:
                    options = options with { IdleSeconds = v };
                    break;
                case "--out" when Value() is { Length: > 0 } v:
                    options = options with { OutFile = v };
                    break;
                case "-h" or "--help":
                    options = options with { Help = true };
                    break;
                case "--insecure":
                    options = options with { SignRequests = false };
                    break;
                case "--no-reconciler":
                    options = options with { Reconciler = false };
                    break;
                case "--mode":
                    error = "--mode needs api, list-memory, jobs, burst or list-scale.";
                    return null;
                case "--duration" or "--concurrency" or "--warmup" or "--out" or "--clusters" or "--jobs" or "--run-seconds" or "--idle-seconds":
                    error = $"{arg} needs a {arg switch { "--out" => "file name", "--warmup" => "whole number of 0 or more", "--run-seconds" => "whole number from 0 to 86400", "--idle-seconds" => "whole number from 1 to 86400", _ => "positive whole number" }}.";
                    return null;
                default:
                    error = $"Unknown argument '{arg}'.";
                    return null;
            }
        }
        return options;
    }

    private static BenchMode? ModeNamed(string name) => name switch
    {
        "api" => BenchMode.Api,
        "list-memory" => BenchMode.ListMemory,
        "jobs" => BenchMode.Jobs,
        "burst" => BenchMode.Burst,
        "list-scale" => BenchMode.ListScale,
        _ => null,
    };

    private static int? PositiveInt(string? text) => NonNegativeInt(text) is { } v && v > 0 ? v : null;

    private static int? NonNegativeInt(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
}

public enum BenchMode
{
    Api,
    ListMemory,
    Jobs,
    Burst,
    ListScale,
}
