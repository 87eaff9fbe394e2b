using System.Net;
using System.Net.Sockets;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Hands out ports from <c>Rayfleet:Local:PortRange*</c>. A port is reserved by the state file of the instance that
/// holds it, so the reservations survive a restart of the service; picking and saving happen under one lock, so two
/// instances never get the same port. A port some other program already listens on is skipped.
/// </summary>
public sealed class PortAllocator(LocalProviderOptions options, LocalStateStore store)
{
    /// <summary>GCS, dashboard, Ray client server and the head's dashboard agent.</summary>
    public const int PortsPerHead = 4;

    private readonly Lock _lock = new();
    // Round robin through the range, so a port freed a moment ago (perhaps in TIME_WAIT) is not the next one given.
    private int _cursor;

    /// <summary>
    /// Picks <paramref name="count"/> free ports for <paramref name="state"/>, lets <paramref name="assign"/> record them
    /// in it and saves it, all under the allocation lock. Null (and nothing saved) when the range has too few left.
    /// </summary>
    public IReadOnlyList<int>? AllocateAndSave(LocalInstanceState state, int count, Action<IReadOnlyList<int>> assign)
    {
        lock (_lock)
        {
            var reserved = new HashSet<int>();
            foreach (var other in store.LoadAll())
                if (other.InstanceId != state.InstanceId) AddReserved(reserved, other);
            AddReserved(reserved, state);

            var size = options.PortRangeEnd - options.PortRangeStart + 1;
            var picked = new List<int>(count);
            for (var i = 0; i < size && picked.Count < count; i++)
            {
                var port = options.PortRangeStart + (_cursor + i) % size;
                if (reserved.Contains(port) || !IsFree(port)) continue;
                picked.Add(port);
            }
            if (picked.Count < count) return null;
            _cursor = (picked[^1] - options.PortRangeStart + 1) % size;
            assign(picked);
            store.Save(state);
            return picked;
        }
    }

    /// <summary>Every port an instance holds: its head ports and its nodes' agent ports, until its processes are gone.</summary>
    public static IEnumerable<int> PortsOf(LocalInstanceState state)
    {
        if (state.Stopped) yield break;
        if (state.Ports is { } p)
        {
            yield return p.Gcs;
            yield return p.Dashboard;
            yield return p.Client;
        }
        foreach (var node in state.Nodes)
            if (node.AgentPort is { } a) yield return a;
    }

    private static void AddReserved(HashSet<int> reserved, LocalInstanceState state)
    {
        foreach (var port in PortsOf(state)) reserved.Add(port);
    }

    private static bool IsFree(int port)
    {
        // Ray's GCS binds every interface; a port anything listens on, on any address, is no use to it.
        try
        {
            var probe = new TcpListener(IPAddress.Any, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
