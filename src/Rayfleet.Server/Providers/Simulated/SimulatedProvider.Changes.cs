namespace Rayfleet.Server.Providers.Simulated;

/// <summary>
/// The simulated provider's change reports: the next event an instance expects (a node ready, an injected failure, an
/// autoscaler's idle timeout) is a timer that tells the subscribed reconciler, as a watch would tell it of a pod that
/// became ready, instead of an observation that asks to be polled then. The timers live in memory; after a restart the
/// first resync passes every cluster, and each pass arms its instance's timer again.
/// </summary>
public sealed partial class SimulatedProvider : IClusterChangeSource
{
    private readonly Lock _timersLock = new();
    private readonly Dictionary<string, ITimer> _timers = new(StringComparer.Ordinal);
    private Action<string>[] _subscribers = [];

    public void Subscribe(Action<string> clusterChanged)
    {
        lock (_timersLock) _subscribers = [.. _subscribers, clusterChanged];
    }

    /// <summary>
    /// Reports the cluster changed after <paramref name="delay"/>, replacing what was armed for the instance; false when
    /// nobody subscribed (the observation then asks to be polled, as for a caller that drives the provider itself).
    /// </summary>
    private bool ReportAfter(string instanceId, string clusterId, TimeSpan? delay)
    {
        lock (_timersLock)
        {
            if (_subscribers.Length == 0) return false;
            if (_timers.Remove(instanceId, out var armed)) armed.Dispose();
            if (delay is { } d)
                _timers[instanceId] = time.CreateTimer(_ => Report(instanceId, clusterId), null, d, Timeout.InfiniteTimeSpan);
            return true;
        }
    }

    private void Report(string instanceId, string clusterId)
    {
        Action<string>[] subscribers;
        lock (_timersLock)
        {
            if (_timers.Remove(instanceId, out var fired)) fired.Dispose();
            subscribers = _subscribers;
        }
        foreach (var s in subscribers) s(clusterId);
    }

    private void DisarmReports(string instanceId)
    {
        lock (_timersLock)
            if (_timers.Remove(instanceId, out var armed)) armed.Dispose();
    }

    private void DisposeReports()
    {
        lock (_timersLock)
        {
            foreach (var t in _timers.Values) t.Dispose();
            _timers.Clear();
        }
    }
}
