using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Rayfleet.Server.Providers.Local;

/// <summary>One line of <c>/proc/&lt;pid&gt;/stat</c>, the fields the supervisor needs.</summary>
public readonly record struct ProcStat(int Pid, char State, int ParentPid, int ProcessGroup, int Session, long StartTicks)
{
    /// <summary>Zombies and dead entries are gone for every purpose here: they hold no port and run no code.</summary>
    public bool IsAlive => State is not ('Z' or 'X' or 'x');
}

/// <summary>A process that carries the local provider's markers in its environment.</summary>
public sealed record MarkedProcess(ProcStat Stat, string InstanceId, string NodeId)
{
    public int Pid => Stat.Pid;

    /// <summary>The node's wrapper shell, started by <c>setsid</c>: the leader of its own session.</summary>
    public bool IsSessionLeader => Stat.Session == Stat.Pid;
}

/// <summary>
/// Linux process facts from <c>/proc</c>, and signals through libc. Process identity is the pid plus the start time
/// (field 22 of <c>stat</c>, clock ticks since boot), so a recycled pid is never taken for a node. Every node process
/// carries three environment markers (root, instance, node); children inherit them, which is how a node's whole tree
/// is found again after the service restarts, whatever process groups Ray's own children put themselves in.
/// </summary>
public static class ProcFs
{
    public const string RootMarker = "RAYFLEET_LOCAL_ROOT";
    public const string InstanceMarker = "RAYFLEET_INSTANCE_ID";
    public const string NodeMarker = "RAYFLEET_NODE_ID";

    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>USER_HZ: 100 on every architecture Linux exposes to user space.</summary>
    private const long TicksPerSecond = 100;

    public static ProcStat? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return ParseStat(text);
    }

    public static ProcStat? ParseStat(string text)
    {
        // "pid (comm) state ppid pgrp session ... starttime ...": comm may hold spaces and parentheses, so the fields
        // are counted from the last ')'.
        var close = text.LastIndexOf(')');
        var open = text.IndexOf(' ', StringComparison.Ordinal);
        if (close < 0 || open < 0) return null;
        var fields = text[(close + 2)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 20) return null;
        if (!int.TryParse(text[..open], CultureInfo.InvariantCulture, out var pid)
            || !int.TryParse(fields[1], CultureInfo.InvariantCulture, out var ppid)
            || !int.TryParse(fields[2], CultureInfo.InvariantCulture, out var pgrp)
            || !int.TryParse(fields[3], CultureInfo.InvariantCulture, out var session)
            || !long.TryParse(fields[19], CultureInfo.InvariantCulture, out var start))
            return null;
        return new ProcStat(pid, fields[0][0], ppid, pgrp, session, start);
    }

    /// <summary>True when the pid is alive and is the same process that was started at <paramref name="startTicks"/>.</summary>
    public static bool IsSameProcess(int pid, long startTicks) =>
        ReadStat(pid) is { IsAlive: true } s && s.StartTicks == startTicks;

    /// <summary>Every live process whose environment names <paramref name="root"/> as its local provider root.</summary>
    public static IReadOnlyList<MarkedProcess> Scan(string root)
    {
        var needle = Encoding.UTF8.GetBytes(RootMarker + "=" + root + "\0");
        var result = new List<MarkedProcess>();
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc");
        }
        catch (IOException)
        {
            return result;
        }
        foreach (var dir in entries)
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId) continue;
            byte[] environ;
            try
            {
                environ = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile, or another user's: not ours either way
            }
            if (!ContainsEntry(environ, needle)) continue;
            if (ReadStat(pid) is not { IsAlive: true } stat) continue;
            string? instance = null, node = null;
            foreach (var entry in Encoding.UTF8.GetString(environ).Split('\0'))
            {
                if (entry.StartsWith(InstanceMarker + "=", StringComparison.Ordinal)) instance = entry[(InstanceMarker.Length + 1)..];
                else if (entry.StartsWith(NodeMarker + "=", StringComparison.Ordinal)) node = entry[(NodeMarker.Length + 1)..];
            }
            if (instance is not null && node is not null) result.Add(new MarkedProcess(stat, instance, node));
        }
        return result;
    }

    private static bool ContainsEntry(ReadOnlySpan<byte> environ, ReadOnlySpan<byte> needle)
    {
        // Entries are NUL-separated; the marker must start an entry, not sit inside another one's value.
        if (environ.StartsWith(needle)) return true;
        Span<byte> withSeparator = stackalloc byte[needle.Length + 1];
        withSeparator[0] = 0;
        needle.CopyTo(withSeparator[1..]);
        return environ.IndexOf(withSeparator) >= 0;
    }

    /// <summary>Process start as Unix milliseconds, from the boot time and the start ticks.</summary>
    public static long? StartTimeMs(long startTicks)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/stat"))
                if (line.StartsWith("btime ", StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(6).Trim(), CultureInfo.InvariantCulture, out var boot))
                    return boot * 1000 + startTicks * 1000 / TicksPerSecond;
        }
        catch (IOException)
        {
        }
        return null;
    }

    /// <summary>Sends a signal; false when the target is gone (or not ours to signal).</summary>
    public static bool Signal(int pid, int signal) => pid != 0 && pid != -1 && Native.kill(pid, signal) == 0;

    /// <summary>Signals a whole process group (the node's session, started by setsid).</summary>
    public static bool SignalGroup(int processGroup, int signal) => processGroup > 1 && Native.kill(-processGroup, signal) == 0;

    private static class Native
    {
        // A plain DllImport: two ints need no marshalling, and LibraryImport would need unsafe code in the project.
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int kill(int pid, int sig);
    }
}
