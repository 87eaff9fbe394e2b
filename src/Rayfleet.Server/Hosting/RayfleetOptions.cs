using System.ComponentModel.DataAnnotations;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Hosting;

public sealed class RayfleetOptions
{
    public const string Section = "Rayfleet";

    /// <summary>
    /// Folder for the SQLite database, keys and provider state; created when missing. A relative path is taken from
    /// the working directory. Default: <see cref="DefaultDataDirectory()"/>, the same wherever the service is started.
    /// </summary>
    [Required] public string DataDirectory { get; set; } = DefaultDataDirectory();

    /// <summary>
    /// Provider of workspaces that name none: <c>local</c> (ray processes on this machine), <c>simulated</c>, or
    /// <c>kubernetes</c> when <c>Rayfleet:Kubernetes</c> is configured.
    /// </summary>
    [Required] public string DefaultProvider { get; set; } = ProviderNames.Local;

    [Required] public string RegionId { get; set; } = "local";

    /// <summary>
    /// Capacity of the <c>root_queue</c> of the <c>default</c> workspace created on first start. When not set: this
    /// machine's capacity with the local provider as the default, else <see cref="FallbackQueueCu"/>.
    /// </summary>
    [Range(typeof(decimal), "0.001", "1000000000")] public decimal? DefaultQueueCu { get; set; }

    /// <summary>GPUs of that <c>root_queue</c>. When not set: this machine's GPUs with the local provider, else <see cref="FallbackQueueGpu"/>.</summary>
    [Range(0, 1_000_000)] public int? DefaultQueueGpu { get; set; }

    public const decimal FallbackQueueCu = 64;
    public const int FallbackQueueGpu = 8;

    /// <summary>Capacity of the root_queue of a workspace created without resourceSpec.cu.</summary>
    [Range(typeof(decimal), "0.001", "1000000000")] public decimal NewWorkspaceQueueCu { get; set; } = 64;

    public ReconcilerOptions Reconciler { get; set; } = new();

    public SimulatedProviderOptions Simulated { get; set; } = new();

    public LocalProviderOptions Local { get; set; } = new();

    public List<ReleaseVersionOptions> ReleaseVersions { get; set; } = [];

    public List<GpuTypeOptions> GpuTypes { get; set; } = [];

    /// <summary>
    /// The per-user data folder: <c>$XDG_DATA_HOME/rayfleet</c>, else <c>~/.local/share/rayfleet</c> (the XDG base
    /// directory rule, also on macOS), <c>%LOCALAPPDATA%\rayfleet</c> on Windows. Not the working directory: that moves
    /// with every <c>cd</c> and is <c>/</c> under systemd, so a restart would silently open an empty store or none.
    /// Empty when the user has no home folder.
    /// </summary>
    public static string DefaultDataDirectory() =>
        DefaultDataDirectory(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), OperatingSystem.IsWindows());

    public static string DefaultDataDirectory(Func<string, string?> environment, string homeDirectory, bool windows)
    {
        if (windows)
            return environment("LOCALAPPDATA") is { Length: > 0 } local ? Path.Combine(local, "rayfleet") : "";
        // The XDG spec says to ignore a relative XDG_DATA_HOME.
        if (environment("XDG_DATA_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "rayfleet");
        return homeDirectory.Length > 0 ? Path.Combine(homeDirectory, ".local", "share", "rayfleet") : "";
    }
}

public sealed class ReconcilerOptions
{
    /// <summary>
    /// False runs the API without acting on clusters: nothing is admitted, started or stopped, and changes wait in the
    /// store for a service that reconciles. For diagnostics (the bench's --no-reconciler) and tests that decide themselves.
    /// </summary>
    public bool Enabled { get; set; } = true;
    [Range(1, 256)] public int MaxParallelism { get; set; } = 8;
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan BackoffMax { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>How soon to look again at a cluster whose resources are still going away.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>How often a running job is asked for its status and driver log.</summary>
    public TimeSpan JobPollInterval { get; set; } = TimeSpan.FromSeconds(2);
}

public sealed class SimulatedProviderOptions
{
    /// <summary>Time a simulated node takes from creation to ready.</summary>
    public TimeSpan NodeStartDelay { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Time a simulated node takes to go away after it is asked to stop.</summary>
    public TimeSpan NodeStopDelay { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Time a simulated job stays PENDING after its submission, unless its or its cluster's extraParam says otherwise.</summary>
    public TimeSpan JobPendingTime { get; set; } = TimeSpan.Zero;
    /// <summary>Time a simulated job's entrypoint runs, unless its or its cluster's extraParam says otherwise.</summary>
    public TimeSpan JobRunTime { get; set; } = TimeSpan.FromSeconds(2);
}

public sealed class ReleaseVersionOptions
{
    [Required] public string DisplayReleaseVersion { get; set; } = "";
    [Required] public string RayVersion { get; set; } = "";
    [Required] public string PythonVersion { get; set; } = "";
    [Required] public string Image { get; set; } = "";
    /// <summary>The <c>ray</c> command the local provider runs for this version (path, or a name on PATH).</summary>
    public string RayCommand { get; set; } = "ray";
    public string State { get; set; } = "ONLINE";
    public string Type { get; set; } = "stable";
    public bool IsDefault { get; set; }
}

public sealed class GpuTypeOptions
{
    [Required] public string InstanceType { get; set; } = "";
    [Required] public string Cpu { get; set; } = "";
    [Required] public string Memory { get; set; } = "";
    [Range(1, 64)] public int GpuCount { get; set; } = 1;
    [Required] public string GpuModel { get; set; } = "";
    public Dictionary<string, string> NodeLabels { get; set; } = [];
}

/// <summary>The service's data folder, absolute: where providers keep their state (each in a folder of its own).</summary>
public sealed record DataFolder(string Path);
