using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Local;

/// <summary><c>Rayfleet:Local</c>: how the local provider runs <c>ray start</c> processes on this machine.</summary>
public sealed class LocalProviderOptions
{
    /// <summary>
    /// Ports for heads (GCS, dashboard, Ray client server) and every node's dashboard agent come from this range; no
    /// two instances ever get the same one. The default stays below Linux's ephemeral range (32768 and up) and above
    /// Ray's default worker ports.
    /// </summary>
    public int PortRangeStart { get; set; } = 23000;

    public int PortRangeEnd { get; set; } = 23999;

    /// <summary><c>--dashboard-host</c> of every head; loopback by default, as Ray's dashboard has no authentication.</summary>
    public string DashboardHost { get; set; } = "127.0.0.1";

    /// <summary>Time between SIGTERM and SIGKILL when nodes are stopped.</summary>
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Delay before a crashed worker is started again, doubling per crash in a row up to the max.</summary>
    public TimeSpan WorkerRestartBackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan WorkerRestartBackoffMax { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a running cluster's processes are looked at (the reconciler comes back this often).</summary>
    public TimeSpan SupervisionInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Folder for the instances' <c>--temp-dir</c>s. Ray puts unix sockets there and a socket path has at most 107
    /// bytes, so it must be short (at most <see cref="MaxTempRootLength"/> characters). Default:
    /// <c>{DataDirectory}/local/tmp</c>, or <c>/tmp/rayfleet-&lt;hash&gt;</c> when that would be too long.
    /// </summary>
    public string? TempRoot { get; set; }

    /// <summary>
    /// A socket path is <c>{TempRoot}/{8-char hash}/session_YYYY-MM-DD_HH-MM-SS_ffffff_{pid}/sockets/plasma_store</c>:
    /// 73 characters after the root with a 7-digit pid, and the kernel allows 107.
    /// </summary>
    public const int MaxTempRootLength = 107 - 73;

    /// <summary>The temp root in effect: the configured one, else the default under the data folder, else under /tmp.</summary>
    public string EffectiveTempRoot(string dataDirectory)
    {
        if (!string.IsNullOrWhiteSpace(TempRoot)) return Path.GetFullPath(TempRoot);
        var underData = Path.Combine(LocalPaths.RootOf(dataDirectory), "tmp");
        if (underData.Length <= MaxTempRootLength) return underData;
        return Path.Combine(Path.GetTempPath(), "rayfleet-" + ShortHash(Path.GetFullPath(dataDirectory)));
    }

    /// <summary>How soon an instance that is starting or stopping nodes is looked at again: the supervision interval, at most 250 ms.</summary>
    internal TimeSpan ReadinessPoll() => SupervisionInterval < TimeSpan.FromMilliseconds(250) ? SupervisionInterval : TimeSpan.FromMilliseconds(250);

    public static string ShortHash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8];
}

/// <summary>Checks <c>Rayfleet:Local</c> at start; a broken setting stops the service with a message naming it.</summary>
public sealed class LocalProviderOptionsValidator : IValidateOptions<RayfleetOptions>
{
    public ValidateOptionsResult Validate(string? name, RayfleetOptions options)
    {
        var o = options.Local;
        var failures = new List<string>();
        if (o.PortRangeStart is < 1024 or > 65535 || o.PortRangeEnd is < 1024 or > 65535)
            failures.Add("Rayfleet:Local:PortRangeStart and PortRangeEnd must be between 1024 and 65535.");
        else if (o.PortRangeEnd - o.PortRangeStart + 1 < PortAllocator.PortsPerHead)
            failures.Add($"Rayfleet:Local:PortRangeEnd must be at least PortRangeStart + {PortAllocator.PortsPerHead - 1}: a head alone needs {PortAllocator.PortsPerHead} ports.");
        if (string.IsNullOrWhiteSpace(o.DashboardHost) || (o.DashboardHost != "localhost" && !IPAddress.TryParse(o.DashboardHost, out _)))
            failures.Add($"Rayfleet:Local:DashboardHost '{o.DashboardHost}' must be an IP address (127.0.0.1 by default, 0.0.0.0 for every interface) or localhost.");
        if (o.StopGracePeriod < TimeSpan.Zero) failures.Add("Rayfleet:Local:StopGracePeriod must not be negative.");
        if (o.WorkerRestartBackoffBase <= TimeSpan.Zero || o.WorkerRestartBackoffMax < o.WorkerRestartBackoffBase)
            failures.Add("Rayfleet:Local:WorkerRestartBackoffBase must be positive and at most WorkerRestartBackoffMax.");
        if (o.SupervisionInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Local:SupervisionInterval must be positive.");
        var tempRoot = o.EffectiveTempRoot(options.DataDirectory);
        if (tempRoot.Length > LocalProviderOptions.MaxTempRootLength)
            failures.Add($"Rayfleet:Local:TempRoot '{tempRoot}' is {tempRoot.Length} characters; Ray's unix socket paths under it would pass the kernel's 107-byte limit. "
                         + $"Set Rayfleet:Local:TempRoot to a folder of at most {LocalProviderOptions.MaxTempRootLength} characters, such as /tmp/rayfleet.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
