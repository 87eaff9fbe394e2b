using System.Threading.Channels;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// A de-duplicating work queue in the manner of client-go's: a key is queued at most once, and a key enqueued while
/// it is being processed runs again after, never twice at the same time.
/// </summary>
public sealed class WorkQueue
{
    private readonly Channel<string> _channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = false });
    private readonly HashSet<string> _queued = new(StringComparer.Ordinal);
    private readonly HashSet<string> _processing = new(StringComparer.Ordinal);
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public void Add(string key)
    {
        lock (_lock)
        {
            if (_processing.Contains(key))
            {
                _dirty.Add(key);
                return;
            }
            if (!_queued.Add(key)) return;
        }
        _channel.Writer.TryWrite(key);
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

    public int Count
    {
        get
        {
            lock (_lock) return _queued.Count + _processing.Count;
        }
    }
}
