using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Builds each node's <c>ray start</c> command and starts it in its own session (<c>setsid</c>) under a small wrapper
/// shell that sends its output to the node's log file and records ray's exit code. The shells it started are kept so
/// that they are reaped and their exit codes read.
/// </summary>
internal sealed partial class NodeLauncher(LocalProviderOptions options, LocalPaths paths, LocalStateStore store, ILogger logger) : IDisposable
{
    // $1 log file, $2 exit-code file, then ray and its arguments. ray runs as a child (not exec'd) so that its exit
    // code is written even when nobody waits for the shell, such as after a crash of the service.
    private const string WrapperScript =
        "log=$1; exitfile=$2; shift 2\n" +
        "exec </dev/null >>\"$log\" 2>&1\n" +
        "\"$@\"\n" +
        "code=$?\n" +
        "echo \"$code\" >\"$exitfile.tmp\" && mv -f \"$exitfile.tmp\" \"$exitfile\"\n" +
        "exit \"$code\"\n";

    // Wrapper shells started by this service: kept so they are reaped and their exit codes read.
    private readonly ConcurrentDictionary<int, Process> _children = new();
    private readonly Lazy<string?> _setsid = new(() => RayStartCommand.Resolve("setsid", Environment.GetEnvironmentVariable("PATH")));

    /// <summary>The install hint for a cluster whose ray command cannot be found, before anything is created.</summary>
    public string? MissingCommand(ProviderClusterRequest request)
    {
        var releases = new[] { request.Head.Release }.Concat(request.Spec.Workers.Select(g => request.NodesOf(g.GroupName).Release)).Distinct();
        foreach (var release in releases)
            if (RayStartCommand.Resolve(release.RayCommand, Environment.GetEnvironmentVariable("PATH")) is null)
                return MissingRayMessage(release);
        if (_setsid.Value is null)
            return "The local provider needs the setsid command (util-linux) on PATH to start each Ray node in its own session. "
                   + "Install util-linux, or create the workspace with provider \"simulated\".";
        return null;
    }

    /// <summary>Starts a node's wrapper shell in a new session; null on success, else why it could not start.</summary>
    public string? Start(ProviderClusterRequest request, LocalInstanceState state, LocalNodeState node, RayStartCommand command, long now)
    {
        var release = ReleaseOf(request, node);
        if (RayStartCommand.Resolve(release.RayCommand, Environment.GetEnvironmentVariable("PATH")) is not { } ray)
            return MissingRayMessage(release);
        if (_setsid.Value is not { } setsid)
            return "the setsid command (util-linux) was not found on PATH; the local provider starts every node in its own session with it.";

        var log = paths.NodeLog(state.InstanceId, node.Id);
        Directory.CreateDirectory(paths.LogsDir(state.InstanceId));
        if (node.IsHead) Directory.CreateDirectory(state.TempDir);
        File.Delete(paths.NodeExitFile(state.InstanceId, node.Id));
        var attempt = node.Restarts > 0 ? $" (restart {node.Restarts})" : "";
        File.AppendAllText(log, $"[rayfleet] {DateTimeOffset.FromUnixTimeMilliseconds(now):O} starting {node.Id}{attempt}: {ray} {string.Join(' ', command.Arguments)}\n");

        var start = new ProcessStartInfo(setsid)
        {
            UseShellExecute = false,
            WorkingDirectory = paths.InstanceDir(state.InstanceId),
        };
        foreach (var a in new[] { "/bin/sh", "-c", WrapperScript, "rayfleet-node", log, paths.NodeExitFile(state.InstanceId, node.Id), ray })
            start.ArgumentList.Add(a);
        foreach (var a in command.Arguments) start.ArgumentList.Add(a);
        foreach (var (key, value) in ClusterRules.ParseEnv(node.IsHead ? request.Spec.Head.Env : GroupOf(request, node)?.Env))
            start.Environment[key] = value;
        // Set last: the markers identify the node's processes, whatever the user's env says.
        start.Environment[ProcFs.RootMarker] = paths.Root;
        start.Environment[ProcFs.InstanceMarker] = state.InstanceId;
        start.Environment[ProcFs.NodeMarker] = node.Id;

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process was started");
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return $"starting {setsid} failed: {ex.Message}";
        }
        _children[process.Id] = process;
        node.Pid = process.Id;
        // -1 when it is gone already: the next look finds it exited and reads its exit code.
        node.StartTicks = ProcFs.ReadStat(process.Id)?.StartTicks ?? -1;
        node.StartedAt = now;
        node.ReadyAt = node.IsHead ? null : now;
        node.NextStartAt = null;
        node.LastError = null;
        // Saved at once: a service that dies from here on finds the pid and adopts the node.
        store.Save(state);
        LogStarted(logger, node.Id, process.Id, command.Arguments.Count);
        return null;
    }

    /// <summary>The node's <c>ray start</c> command, from its group's spec and the ports the state holds.</summary>
    public RayStartCommand Command(ProviderClusterRequest request, LocalInstanceState state, LocalNodeState node)
    {
        var ports = state.Ports ?? new HeadPorts(0, 0, 0);
        string cpu, memory;
        string? parameters;
        ProviderNodeGroup nodes;
        if (node.IsHead)
        {
            (cpu, memory, parameters, nodes) = (request.Spec.Head.Cpu, request.Spec.Head.Memory, request.Spec.Head.RayStartParams, request.Head);
        }
        else
        {
            var group = GroupOf(request, node)!;
            (cpu, memory, parameters, nodes) = (group.Cpu, group.Memory, group.RayStartParams, request.NodesOf(group.GroupName));
        }
        return RayStartCommand.For(new NodeLaunch
        {
            IsHead = node.IsHead,
            NodeIp = LocalProvider.NodeIp,
            GcsPort = ports.Gcs,
            DashboardPort = ports.Dashboard,
            DashboardHost = options.DashboardHost,
            ClientPort = ports.Client,
            AgentPort = node.AgentPort ?? 0,
            CpuMillis = Quantity.ParseCpuMillis(cpu) ?? 1000,
            MemoryBytes = Quantity.ParseMemoryBytes(memory) ?? 0,
            Gpus = nodes.GpusPerNode,
            TempDir = state.TempDir,
            RayStartParams = parameters,
        });
    }

    /// <summary>Where the head's dashboard listens, as its command places it.</summary>
    public string DashboardUrl(RayStartCommand head)
    {
        var host = head.Value("--dashboard-host") ?? options.DashboardHost;
        if (host is "0.0.0.0" or "::" or "localhost") host = LocalProvider.NodeIp;
        if (host.Contains(':', StringComparison.Ordinal)) host = $"[{host}]";
        return $"http://{host}:{head.IntValue("--dashboard-port")}";
    }

    /// <summary>The head runs with <c>--include-dashboard</c> set to false: it has no dashboard and no job API.</summary>
    public static bool DashboardDisabled(RayStartCommand head) => head.Value("--include-dashboard") is { } include && !IsTrue(include);

    /// <summary>The exit code of a node's wrapper shell that is gone, with its handle released; null when unknown.</summary>
    public int? CollectExitCode(string instanceId, string nodeId, int pid)
    {
        // The wrapper's file has ray's own code, also for a node that ended while the service was down; the shell's
        // code (128 + signal when it was killed) is the fallback.
        int? code = null;
        if (_children.TryRemove(pid, out var process))
        {
            using (process)
            {
                if (process.WaitForExit(TimeSpan.FromSeconds(1))) code = process.ExitCode;
            }
        }
        try
        {
            var file = paths.NodeExitFile(instanceId, nodeId);
            if (File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture, out var written)) code = written;
        }
        catch (IOException)
        {
        }
        return code;
    }

    private static string MissingRayMessage(ReleaseVersion release)
    {
        var setting = $"{release.Setting}:RayCommand";
        var install = $"pip install \"ray[default]=={release.RayVersion}\"";
        return release.RayCommand.Contains('/', StringComparison.Ordinal)
            ? $"The ray command '{release.RayCommand}' for release version '{release.DisplayReleaseVersion}' does not exist or is not executable. "
              + $"Install Ray ({install}) and set {setting} to the path of its ray command, or create the workspace with provider \"simulated\"."
            : $"The ray command '{release.RayCommand}' for release version '{release.DisplayReleaseVersion}' was not found on PATH. "
              + $"Install Ray ({install}) or set {setting} to its path, or create the workspace with provider \"simulated\".";
    }

    public static ReleaseVersion ReleaseOf(ProviderClusterRequest request, LocalNodeState node) =>
        node.IsHead ? request.Head.Release
        : GroupOf(request, node) is { } group ? request.NodesOf(group.GroupName).Release
        : request.Release;

    private static WorkerGroupSpec? GroupOf(ProviderClusterRequest request, LocalNodeState node) =>
        request.Spec.Workers.FirstOrDefault(g => g.GroupName == node.Group);

    private static bool IsTrue(string value) => value.ToLowerInvariant() is "true" or "1" or "yes" or "y" or "t" or "on";

    public void Dispose()
    {
        // Node processes are meant to outlive the service: only the handles go.
        foreach (var process in _children.Values) process.Dispose();
        _children.Clear();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Started node {NodeId} as pid {Pid} ({Arguments} ray start arguments)")]
    private static partial void LogStarted(ILogger logger, string nodeId, int pid, int arguments);
}
