namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// The marked processes of one instance, read from /proc on first use only: a healthy instance is checked by its
/// nodes' pids and start times alone, and the full scan (every process's environment) happens when something
/// changed.
/// </summary>
internal sealed class InstanceProcesses(string root, string instanceId)
{
    private List<MarkedProcess>? _all;

    public List<MarkedProcess> All => _all ??= [.. ProcFs.Scan(root).Where(p => p.InstanceId == instanceId)];

    public IEnumerable<MarkedProcess> Of(string nodeId) => All.Where(p => p.NodeId == nodeId);
}
