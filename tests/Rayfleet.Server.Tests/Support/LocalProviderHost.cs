using System.Text.Json.Nodes;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Tests.Support;

/// <summary>Local-provider tests start real processes and contend for ports: they run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LocalProcessesCollection
{
    public const string Name = "local provider processes";
}

/// <summary>
/// Settings for a service whose default provider is <c>local</c>, with the Ray stand-in as every release's
/// <c>ray</c> command (set the way a user sets a real one), a short temp root, a port block of its own, and short
/// supervision, backoff and grace times. Everything it started is killed and deleted on dispose.
/// </summary>
public sealed class LocalSetup : IDisposable
{
    private static int s_nextBlock;
    private const int BlockSize = 40;

    public LocalSetup(string? dataDirectory = null)
    {
        OwnsDirectory = dataDirectory is null;
        DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(DataDirectory);
        TempRoot = Path.Combine(Path.GetTempPath(), "rft-" + LocalProviderOptions.ShortHash(DataDirectory));
        // A block per setup, spread by process id so that test runs in other checkouts on this machine rarely meet;
        // the allocator skips ports that are taken anyway.
        var block = Interlocked.Increment(ref s_nextBlock) + Environment.ProcessId % 97;
        PortRangeStart = 24000 + block * BlockSize % 8000;
        Root = LocalPaths.RootOf(DataDirectory);
    }

    /// <summary>The stand-in's apphost, built next to the tests because the test project references it.</summary>
    public static string StandIn { get; } = Path.Combine(AppContext.BaseDirectory, "Rayfleet.RayStandIn");

    public string DataDirectory { get; }
    public bool OwnsDirectory { get; }
    public string TempRoot { get; }
    public string Root { get; }
    public int PortRangeStart { get; }
    public int PortRangeEnd => PortRangeStart + BlockSize - 1;
    public TimeSpan Grace { get; init; } = TimeSpan.FromSeconds(2);

    public Dictionary<string, string?> Settings(string rayCommand) => new()
    {
        ["Rayfleet:DefaultProvider"] = "local",
        ["Rayfleet:DefaultQueueCu"] = "64",
        ["Rayfleet:DefaultQueueGpu"] = "4",
        ["Rayfleet:ReleaseVersions:0:RayCommand"] = rayCommand,
        ["Rayfleet:ReleaseVersions:1:RayCommand"] = rayCommand,
        ["Rayfleet:Local:TempRoot"] = TempRoot,
        ["Rayfleet:Local:PortRangeStart"] = PortRangeStart.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Rayfleet:Local:PortRangeEnd"] = PortRangeEnd.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Rayfleet:Local:StopGracePeriod"] = Grace.ToString(),
        ["Rayfleet:Local:WorkerRestartBackoffBase"] = "00:00:00.300",
        ["Rayfleet:Local:WorkerRestartBackoffMax"] = "00:00:02",
        ["Rayfleet:Local:SupervisionInterval"] = "00:00:00.200",
        ["Rayfleet:Reconciler:PollInterval"] = "00:00:00.200",
    };

    public RayfleetHost Host(string? rayCommand = null, IDictionary<string, string?>? extra = null)
    {
        var settings = Settings(rayCommand ?? StandIn);
        if (extra is not null)
            foreach (var (k, v) in extra) settings[k] = v;
        return new RayfleetHost(DataDirectory, settings: settings, systemClock: true);
    }

    /// <summary>Live processes that carry this setup's root marker.</summary>
    public IReadOnlyList<MarkedProcess> Processes() => ProcFs.Scan(Root);

    public IReadOnlyList<MarkedProcess> Processes(string instanceId) => [.. Processes().Where(p => p.InstanceId == instanceId)];

    /// <summary>
    /// Stand-in processes (not their wrapper shells) whose arguments name this setup's ports: how the tests see what
    /// really runs, independent of the provider's own bookkeeping.
    /// </summary>
    public IReadOnlyList<int> StandInPids()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (argv.Length < 2 || argv[0] != StandIn || ProcFs.ReadStat(pid) is not { IsAlive: true }) continue;
            if (argv.Any(a => a.StartsWith("--dashboard-agent-listen-port=", StringComparison.Ordinal)
                              && int.TryParse(a.Split('=')[1], out var port) && port >= PortRangeStart && port <= PortRangeEnd))
                pids.Add(pid);
        }
        return pids;
    }

    /// <summary>
    /// Waits until exactly <paramref name="count"/> stand-ins run. A node counts as running as soon as its wrapper
    /// shell does, a moment before the shell's child has become the stand-in.
    /// </summary>
    public async Task<IReadOnlyList<int>> StandInPidsAsync(int count)
    {
        IReadOnlyList<int> pids = [];
        await Wall.UntilAsync(() => (pids = StandInPids()).Count == count, $"{count} stand-in process(es) run");
        return pids;
    }

    /// <summary>The stand-in processes (not wrapper shells) of an instance, by node id, from their markers.</summary>
    public Dictionary<string, List<int>> StandInsByNode(string instanceId) =>
        Processes(instanceId)
            .Where(p => ArgvOf(p.Pid) is [var exe, ..] && exe == StandIn)
            .GroupBy(p => p.NodeId)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Pid).ToList());

    private static string[] ArgvOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>
    /// A stand-in head started by hand with this setup's markers for an instance no cluster owns: what a cluster
    /// deleted in an earlier life of the service would leave behind if its removal never finished.
    /// </summary>
    public System.Diagnostics.Process StartStale(string instanceId, int firstPort)
    {
        var start = new System.Diagnostics.ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { StandIn, "start", "--head", "--block", $"--port={firstPort}", $"--dashboard-port={firstPort + 1}",
                     $"--ray-client-server-port={firstPort + 2}", $"--dashboard-agent-listen-port={firstPort + 3}" })
            start.ArgumentList.Add(a);
        start.Environment[ProcFs.RootMarker] = Root;
        start.Environment[ProcFs.InstanceMarker] = instanceId;
        start.Environment[ProcFs.NodeMarker] = instanceId[..^9] + "-head-stale";
        return System.Diagnostics.Process.Start(start)!;
    }

    public string InstanceDir(string instanceId) => Path.Combine(Root, instanceId);

    public string TempDir(string instanceId) => Path.Combine(TempRoot, LocalProviderOptions.ShortHash(instanceId));

    /// <summary>What the stand-in of a node recorded: its argv, pid and environment.</summary>
    public JsonNode? Record(string instanceId, string nodeId)
    {
        var path = Path.Combine(InstanceDir(instanceId), "logs", nodeId + ".standin.json");
        return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
    }

    /// <summary>
    /// The record, once there: a node counts as running as soon as its process does (a pod's phase, not Ray's view),
    /// and the stand-in writes its record a moment later.
    /// </summary>
    public async Task<JsonNode> RecordAsync(string instanceId, string nodeId)
    {
        JsonNode? record = null;
        await Wall.UntilAsync(() => (record = Record(instanceId, nodeId)) is not null, $"the stand-in of {nodeId} wrote its record");
        return record!;
    }

    public string Log(string instanceId, string nodeId) =>
        File.ReadAllText(Path.Combine(InstanceDir(instanceId), "logs", nodeId + ".log"));

    public void KillAll()
    {
        foreach (var p in Processes()) ProcFs.Signal(p.Pid, ProcFs.SigKill);
        foreach (var pid in StandInPids()) ProcFs.Signal(pid, ProcFs.SigKill);
    }

    public void Dispose()
    {
        // Nodes outlive the service by design; a test must not leave any behind.
        KillAll();
        RayfleetHost.TryDelete(TempRoot);
        if (OwnsDirectory) RayfleetHost.TryDelete(DataDirectory);
    }
}

public static class Wall
{
    /// <summary>Polls until the condition holds, against a wall-clock deadline (real processes run in real time).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > end) throw new TimeoutException($"Timed out waiting until {what}.");
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? deadline = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, deadline);

    /// <summary>Gets the cluster until the predicate holds, on the wall clock.</summary>
    public static async Task<JsonNode> ClusterAsync(ApiClient api, string workspaceId, string clusterId, Func<JsonNode, bool> until, string what, TimeSpan? deadline = null)
    {
        JsonNode? last = null;
        try
        {
            await UntilAsync(async () => until(last = await api.GetClusterAsync(workspaceId, clusterId)), what, deadline);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} Last seen: {last?.ToJsonString()}", ex);
        }
        return last!;
    }
}
