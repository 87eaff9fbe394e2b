using System.Threading.Channels;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// A de-duplicating, delaying, rate-limiting work queue in the manner of client-go's: a key is queued at most once; a
/// key enqueued while it is being processed runs again after, never twice at the same time; a key has at most one
/// pending delayed add (KubeOps' TimedEntityQueue), and its consecutive failures are counted here for the backoff.
/// </summary>
/// <remarks>
/// The one-timer-per-key rule is what keeps a cluster's pass rate independent of how often it is enqueued: every pass
/// ends by asking for at most one later look, which replaces whatever look was pending, and an immediate add makes the
/// pending one moot (the pass it causes asks again).
/// </remarks>
public sealed class WorkQueue(TimeProvider time, TimeSpan backoffBase, TimeSpan backoffMax) : IDisposable
{
    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = false });
    private readonly HashSet<string> _queued = new(StringComparer.Ordinal);
    private readonly HashSet<string> _processing = new(StringComparer.Ordinal);
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private bool _disposed;

    public WorkQueue(TimeProvider time) : this(time, TimeSpan.FromMilliseconds(500), TimeSpan.FromMinutes(2))
    {
    }

    private sealed class Pending(string key, DateTimeOffset due)
    {
        public string Key { get; } = key;
        public DateTimeOffset Due { get; } = due;
        public ITimer? Timer { get; set; }
    }

    /// <summary>Queues the key now; a delayed add pending for it is dropped, since the pass this causes decides anew.</summary>
    public void Add(string key)
    {
        lock (_lock)
        {
            if (_disposed) return;
            CancelPending(key);
            if (_processing.Contains(key))
            {
                _dirty.Add(key);
                return;
            }
            if (!_queued.Add(key)) return;
        }
        _channel.Writer.TryWrite(key);
    }

    /// <summary>
    /// Queues the key after <paramref name="delay"/>. At most one delayed add per key is pending: the earlier of the
    /// pending one and this one is kept, the other dropped.
    /// </summary>
    public void AddAfter(string key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }
        lock (_lock)
        {
            if (_disposed) return;
            var due = time.GetUtcNow() + delay;
            if (_pending.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due) return;
                existing.Timer?.Dispose();
            }
            var pending = new Pending(key, due);
            _pending[key] = pending;
            pending.Timer = time.CreateTimer(Fire, pending, delay, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fire(object? state)
    {
        var fired = (Pending)state!;
        lock (_lock)
        {
            // A timer that was replaced may still fire once; only the current one counts.
            if (!_pending.TryGetValue(fired.Key, out var current) || !ReferenceEquals(current, fired)) return;
            _pending.Remove(fired.Key);
            fired.Timer?.Dispose();
        }
        Add(fired.Key);
    }

    /// <summary>Counts a failure of the key and queues it again after an exponential backoff with jitter; returns the delay.</summary>
    public TimeSpan AddRateLimited(string key)
    {
        int failures;
        lock (_lock)
        {
            failures = _failures[key] = _failures.GetValueOrDefault(key) + 1;
        }
        var delay = Backoff(failures);
        // A failure replaces any look the key had pending: it must wait out its backoff.
        lock (_lock) CancelPending(key);
        AddAfter(key, delay);
        return delay;
    }

    /// <summary>Consecutive failures of the key since its last success.</summary>
    public int Failures(string key)
    {
        lock (_lock) return _failures.GetValueOrDefault(key);
    }

    /// <summary>The key succeeded: its failure count starts over.</summary>
    public void Forget(string key)
    {
        lock (_lock) _failures.Remove(key);
    }

    private TimeSpan Backoff(int failures) => Core.Timing.Backoff.Jittered(backoffBase, backoffMax, failures, Random.Shared);

    private void CancelPending(string key)
    {
        if (_pending.Remove(key, out var p)) p.Timer?.Dispose();
    }

    public async ValueTask<string> TakeAsync(CancellationToken ct)
    {
        while (true)
        {
            var key = await _channel.Reader.ReadAsync(ct);
            lock (_lock)
            {
                _queued.Remove(key);
                if (_processing.Add(key)) return key;
                // Cannot happen with Add's bookkeeping, but a key must never run twice at once.
                _dirty.Add(key);
            }
        }
    }

    public void Done(string key)
    {
        bool again;
        lock (_lock)
        {
            _processing.Remove(key);
            again = _dirty.Remove(key);
        }
        if (again) Add(key);
    }

    /// <summary>Keys queued or being processed.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _queued.Count + _processing.Count;
        }
    }

    /// <summary>Keys with a delayed add pending.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock) return _pending.Count;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var p in _pending.Values) p.Timer?.Dispose();
            _pending.Clear();
        }
        _channel.Writer.TryComplete();
    }
}
