using System.Collections.Concurrent;

namespace Rayfleet.Server.Providers;

/// <summary>
/// One reconcile-side operation per key (an instance or a cluster) at a time, while different keys never wait on each
/// other: a slow call for one cluster must not hold up the rest.
/// </summary>
public sealed class KeyedGates : IDisposable
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public async Task<Entered> EnterAsync(string key, CancellationToken cancellationToken)
    {
        var gate = _gates.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        return new Entered(gate);
    }

    public void Dispose()
    {
        foreach (var gate in _gates.Values) gate.Dispose();
    }

    public readonly struct Entered(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}
