using System.Text.Json;
using System.Text.Json.Serialization;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Local;

/// <summary>Where the local provider keeps things: <c>{DataDirectory}/local/{instanceId}/state.json</c> and <c>logs/</c>.</summary>
public sealed class LocalPaths(string dataDirectory, string tempRoot)
{
    public static string RootOf(string dataDirectory) => Path.Combine(Path.GetFullPath(dataDirectory), "local");

    public string Root { get; } = RootOf(dataDirectory);
    public string TempRoot { get; } = tempRoot;

    public string InstanceDir(string instanceId) => Path.Combine(Root, instanceId);
    public string StateFile(string instanceId) => Path.Combine(InstanceDir(instanceId), "state.json");
    public string LogsDir(string instanceId) => Path.Combine(InstanceDir(instanceId), "logs");
    public string NodeLog(string instanceId, string nodeId) => Path.Combine(LogsDir(instanceId), nodeId + ".log");
    /// <summary>Written by the node's wrapper shell when <c>ray</c> exits on its own, so a restarted service still knows the code.</summary>
    public string NodeExitFile(string instanceId, string nodeId) => Path.Combine(LogsDir(instanceId), nodeId + ".exit");
    /// <summary>Short on purpose: Ray's unix sockets live below it (see <see cref="LocalProviderOptions.MaxTempRootLength"/>).</summary>
    public string TempDir(string instanceId) => Path.Combine(TempRoot, LocalProviderOptions.ShortHash(instanceId));

    /// <summary>Instance folders are named by instance id; anything else under the root (the temp root, say) is not one.</summary>
    public static bool LooksLikeInstance(string name) => name.StartsWith("ray-", StringComparison.Ordinal);
}

/// <summary>
/// What the local provider knows of one cluster instance, kept in <c>state.json</c> so that a restarted service finds
/// its processes and ports again. Written atomically (temp file, flush, rename).
/// </summary>
public sealed class LocalInstanceState
{
    public required string InstanceId { get; set; }
    public required string ClusterId { get; set; }
    public string? WorkspaceId { get; set; }
    public long CreatedAt { get; set; }
    public required string TempDir { get; set; }
    /// <summary>Null once the instance's processes are gone and its ports released.</summary>
    public HeadPorts? Ports { get; set; }
    /// <summary>The head's dashboard (Ray's job API), as its rayStartParams place it; null in states written before it was kept.</summary>
    public string? DashboardUrl { get; set; }
    /// <summary>The head runs with --include-dashboard=false: it has no job API.</summary>
    public bool DashboardDisabled { get; set; }
    /// <summary>When a stop of the whole instance began (SIGTERM sent); SIGKILL follows after the grace period.</summary>
    public long? StopRequestedAt { get; set; }
    /// <summary>Every process is gone; only logs and the temp folder remain, until the instance is removed for good.</summary>
    public bool Stopped { get; set; }
    /// <summary>The head died: the instance stays failed, with this message, until it is removed.</summary>
    public string? FailureMessage { get; set; }
    public int? FailureExitCode { get; set; }
    public List<LocalNodeState> Nodes { get; set; } = [];
}

public sealed record HeadPorts(int Gcs, int Dashboard, int Client);

public sealed class LocalNodeState
{
    public required string Id { get; set; }
    /// <summary>Null for the head.</summary>
    public string? Group { get; set; }
    public int? AgentPort { get; set; }
    public long CreatedAt { get; set; }
    /// <summary>The wrapper shell's pid and start ticks while a process of this node should be running.</summary>
    public int? Pid { get; set; }
    public long? StartTicks { get; set; }
    public long? StartedAt { get; set; }
    /// <summary>Head: when the dashboard first answered its health request. Workers: when the process was started.</summary>
    public long? ReadyAt { get; set; }
    public int Restarts { get; set; }
    public int CrashesInARow { get; set; }
    public int? LastExitCode { get; set; }
    public long? LastExitAt { get; set; }
    public long? NextStartAt { get; set; }
    public string? LastError { get; set; }
    /// <summary>Set when the node is being scaled away: SIGTERM was sent then, SIGKILL follows after the grace period.</summary>
    public long? StopRequestedAt { get; set; }

    [JsonIgnore] public bool IsHead => Group is null;
}

/// <summary>The state files, one per instance folder.</summary>
public sealed class LocalStateStore(LocalPaths paths)
{
    public LocalInstanceState? Load(string instanceId)
    {
        var path = paths.StateFile(instanceId);
        if (!File.Exists(path)) return null;
        var state = JsonSerializer.Deserialize(File.ReadAllBytes(path), FileJson.Default.LocalInstanceState);
        // The folder name is the identity; a folder copied by hand must not act for another instance.
        if (state is not null) state.InstanceId = instanceId;
        return state;
    }

    public void Save(LocalInstanceState state)
    {
        var path = paths.StateFile(state.InstanceId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, state, FileJson.Default.LocalInstanceState);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    public static string Snapshot(LocalInstanceState state) => JsonSerializer.Serialize(state, FileJson.Default.LocalInstanceState);

    /// <summary>Instance ids with a folder under the root, whatever is left in it.</summary>
    public IEnumerable<string> InstanceIds() =>
        Directory.Exists(paths.Root)
            ? Directory.EnumerateDirectories(paths.Root).Select(Path.GetFileName).Where(n => n is not null && LocalPaths.LooksLikeInstance(n)).Select(n => n!)
            : [];

    /// <summary>Every state that can be read; a folder without a readable state is skipped.</summary>
    public IEnumerable<LocalInstanceState> LoadAll()
    {
        foreach (var id in InstanceIds())
        {
            LocalInstanceState? state;
            try
            {
                state = Load(id);
            }
            catch (Exception ex) when (ex is IOException or JsonException)
            {
                continue;
            }
            if (state is not null) yield return state;
        }
    }

    public void Delete(string instanceId, string tempDir)
    {
        DeleteDirectory(tempDir);
        DeleteDirectory(paths.InstanceDir(instanceId));
    }

    private static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }
}
