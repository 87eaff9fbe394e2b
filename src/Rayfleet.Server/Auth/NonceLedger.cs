using Microsoft.EntityFrameworkCore;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

/// <summary>
/// Remembers used signature nonces in the store with group commit: requests that arrive while a commit is in flight
/// are written together in the next one, and each waits for the commit that holds its nonce. One fsync then serves
/// many requests, and a nonce is still durable before its request is answered.
/// </summary>
public sealed class NonceLedger(IServiceScopeFactory scopes)
{
    private sealed record Pending(string AccessKeyId, string Nonce, long ExpiresAt, TaskCompletionSource<bool> Fresh);

    private readonly Lock _lock = new();
    private List<Pending> _queue = [];
    private bool _flushing;

    /// <summary>True when the nonce was not used before by this access key (and is now recorded); false for a replay.</summary>
    public async Task<bool> TryRecordAsync(string accessKeyId, string nonce, long expiresAt)
    {
        var pending = new Pending(accessKeyId, nonce, expiresAt, new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
        bool leader;
        lock (_lock)
        {
            _queue.Add(pending);
            leader = !_flushing;
            _flushing = true;
        }
        if (leader) await FlushAsync();
        return await pending.Fresh.Task;
    }

    private async Task FlushAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_lock)
            {
                if (_queue.Count == 0)
                {
                    _flushing = false;
                    return;
                }
                batch = _queue;
                _queue = [];
            }
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
                await using var tx = await db.Database.BeginTransactionAsync();
                var fresh = new bool[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    var p = batch[i];
                    // Portable upsert (SQLite and PostgreSQL): no row inserted means the pair exists, i.e. a replay.
                    fresh[i] = await db.Database.ExecuteSqlInterpolatedAsync(
                        $"INSERT INTO \"signature_nonces\" (\"AccessKeyId\", \"Nonce\", \"ExpiresAt\") VALUES ({p.AccessKeyId}, {p.Nonce}, {p.ExpiresAt}) ON CONFLICT DO NOTHING") == 1;
                }
                await tx.CommitAsync();
                for (var i = 0; i < batch.Count; i++) batch[i].Fresh.TrySetResult(fresh[i]);
            }
            catch (Exception ex)
            {
                foreach (var p in batch) p.Fresh.TrySetException(ex);
            }
        }
    }
}
