namespace Rayfleet.Server.Hosting;

/// <summary>
/// One operation per key at a time, while different keys never wait on each other: a slow call for one cluster must
/// not hold up the rest. A key's gate lives only while someone holds it or waits for it, so a stream of distinct keys
/// (instances, clientTokens) leaves nothing behind.
/// </summary>
public sealed class KeyedGates : IDisposable
{
    private readonly Dictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    /// <summary>Keys with a holder or a waiter now.</summary>
    public int Count
    {
        get
        {
            lock (_gates) return _gates.Count;
        }
    }

    public async Task<Entered> EnterAsync(string key, CancellationToken cancellationToken)
    {
        Gate gate;
        lock (_gates)
        {
            if (!_gates.TryGetValue(key, out gate!)) _gates.Add(key, gate = new Gate());
            gate.Users++;
        }
        try
        {
            await gate.Semaphore.WaitAsync(cancellationToken);
        }
        catch
        {
            Leave(key, gate, held: false);
            throw;
        }
        return new Entered(this, key, gate);
    }

    // The count and the removal change under one lock, so a caller that just found the gate is never left holding one
    // that was removed from the map (which would let a second gate for the same key appear beside it).
    private void Leave(string key, Gate gate, bool held)
    {
        lock (_gates)
        {
            if (held) gate.Semaphore.Release();
            if (--gate.Users > 0) return;
            _gates.Remove(key);
            gate.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_gates)
        {
            foreach (var gate in _gates.Values) gate.Dispose();
            _gates.Clear();
        }
    }

    internal sealed class Gate : IDisposable
    {
        public readonly SemaphoreSlim Semaphore = new(1, 1);
        public int Users;

        public void Dispose() => Semaphore.Dispose();
    }

    public readonly struct Entered : IDisposable
    {
        private readonly KeyedGates _owner;
        private readonly string _key;
        private readonly Gate _gate;

        internal Entered(KeyedGates owner, string key, Gate gate) => (_owner, _key, _gate) = (owner, key, gate);

        public void Dispose() => _owner.Leave(_key, _gate, held: true);
    }
}
