using System.Globalization;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Local;

/// <summary>What one node is started with, before it becomes <c>ray start</c> arguments.</summary>
public sealed record NodeLaunch
{
    public required bool IsHead { get; init; }
    public required string NodeIp { get; init; }
    /// <summary>Head: the GCS port it listens on. Worker: the head's GCS port it joins.</summary>
    public required int GcsPort { get; init; }
    public int DashboardPort { get; init; }
    public string DashboardHost { get; init; } = "127.0.0.1";
    public int ClientPort { get; init; }
    public required int AgentPort { get; init; }
    public required long CpuMillis { get; init; }
    public required long MemoryBytes { get; init; }
    public required int Gpus { get; init; }
    public string? TempDir { get; init; }
    public string? RayStartParams { get; init; }
}

/// <summary>The <c>ray start</c> command line of a node, and the effective value of each flag.</summary>
public sealed class RayStartCommand
{
    private readonly Dictionary<string, string?> _effective;

    private RayStartCommand(IReadOnlyList<string> arguments, Dictionary<string, string?> effective)
    {
        Arguments = arguments;
        _effective = effective;
    }

    /// <summary>Everything after the <c>ray</c> command itself, starting with <c>start</c>.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>The value the node really gets for a flag (the user's, where the user set it); null when absent or valueless.</summary>
    public string? Value(string flag) => _effective.TryGetValue(flag, out var v) ? v : null;

    public int? IntValue(string flag) =>
        int.TryParse(Value(flag), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public bool Has(string flag) => _effective.ContainsKey(flag);

    public static RayStartCommand For(NodeLaunch node)
    {
        static string S(long v) => v.ToString(CultureInfo.InvariantCulture);

        // Flags Rayfleet owns (rejected in rayStartParams by the request rules) come first and are never overridden.
        var arguments = new List<string> { "start" };
        if (node.IsHead)
        {
            arguments.Add("--head");
            arguments.Add("--port=" + S(node.GcsPort));
        }
        else
        {
            arguments.Add($"--address={node.NodeIp}:{S(node.GcsPort)}");
        }
        arguments.Add("--block");

        var defaults = new List<(string Flag, string Value)> { ("--node-ip-address", node.NodeIp) };
        if (node.IsHead)
        {
            defaults.Add(("--dashboard-host", node.DashboardHost));
            defaults.Add(("--dashboard-port", S(node.DashboardPort)));
            defaults.Add(("--ray-client-server-port", S(node.ClientPort)));
        }
        defaults.Add(("--dashboard-agent-listen-port", S(node.AgentPort)));
        // Worker processes bind random ports: Ray's default range (10002-19999) is the same for every node on a
        // machine, and two raylets handing out the same port would collide.
        defaults.Add(("--min-worker-port", "0"));
        defaults.Add(("--max-worker-port", "0"));
        // Whole cores rounded down, as the Kubernetes provider renders it: Ray never schedules more CPUs than the queue
        // accounts for the node (a 500m node gets 0).
        defaults.Add(("--num-cpus", S(RayStartOptions.WholeCores(node.CpuMillis))));
        defaults.Add(("--memory", S(node.MemoryBytes)));
        defaults.Add(("--num-gpus", S(node.Gpus)));
        // Workers share the head's temp dir: ray start ignores --temp-dir without --head.
        if (node.IsHead && node.TempDir is not null) defaults.Add(("--temp-dir", node.TempDir));

        // No shell runs this command: each option is one argv element, its value exactly as the API parsed it.
        var user = RayStartOptions.Parse(node.RayStartParams).Options;
        var userFlags = user.Select(u => "--" + u.Name).ToHashSet(StringComparer.Ordinal);
        var effective = new Dictionary<string, string?>(StringComparer.Ordinal);

        // A flag the user set replaces Rayfleet's value: passed once, with the user's value.
        foreach (var (flag, value) in defaults)
        {
            if (userFlags.Contains(flag)) continue;
            arguments.Add(flag + "=" + value);
            effective[flag] = value;
        }
        foreach (var option in user)
        {
            var flag = "--" + option.Name;
            arguments.Add(option.Value is null ? flag : flag + "=" + option.Value);
            effective[flag] = option.Value;
        }
        return new RayStartCommand(arguments, effective);
    }

    /// <summary>An absolute path for <paramref name="command"/>: itself when it names a path, else the first match on PATH.</summary>
    public static string? Resolve(string command, string? searchPath)
    {
        if (string.IsNullOrWhiteSpace(command)) return null;
        if (command.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(command);
            return IsExecutable(full) ? full : null;
        }
        foreach (var dir in (searchPath ?? "").Split(':'))
        {
            var candidate = Path.GetFullPath(Path.Combine(dir.Length == 0 ? "." : dir, command));
            if (IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    private static bool IsExecutable(string path)
    {
        try
        {
            if (OperatingSystem.IsWindows()) return File.Exists(path);
            return File.Exists(path)
                   && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
