using System.Buffers.Binary;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

/// <summary>
/// Remembers used signature nonces, so that a replayed request fails until its timestamp is out of the window anyway.
/// </summary>
/// <remarks>
/// <para>The store holds the nonces as a log (<see cref="NonceRow"/>): each new one is appended by a unit of the store's
/// group commit, and a commit of many requests writes the same few pages at the end of the log. A unique index would
/// instead cost one page at a random B-tree position per request, the largest part of every commit.</para>
/// <para>Uniqueness is decided against the unexpired nonces held in memory: a replay of a nonce this process has seen
/// is refused at once, without waiting for the store. A new nonce is appended in the next batch, and the request goes
/// on once that batch committed (durable before it is answered, like every change). The append first reads what was
/// added to the log since the ledger last looked (at startup all of it, after that what other processes of the same
/// store committed; the writer's transaction holds the store's write lock, so nothing can be appended between that
/// read and the append): a nonce another process recorded first is a replay too. A nonce whose commit failed stays
/// remembered: its request was answered with the failure, and a retry signs with a new nonce.</para>
/// <para>(Awaiting the append later, beside the handler's own changes in the same batch, was measured: fewer commits,
/// but more CPU per request, and no faster on this project's 2-core bench machine.)</para>
/// <para>Memory: 16 bytes of SHA-256 per unexpired nonce, bounded by the per-key rate limit times the retention.</para>
/// </remarks>
public sealed class NonceLedger(StoreWriter writer, TimeProvider clock)
{
    private const string Append = "INSERT INTO \"signature_nonces\" (\"KeyHigh\", \"KeyLow\", \"ExpiresAt\") VALUES (@p0, @p1, @p2)";
    private const string Since = "SELECT \"Seq\", \"KeyHigh\", \"KeyLow\", \"ExpiresAt\" FROM \"signature_nonces\" WHERE \"Seq\" > @p0 ORDER BY \"Seq\"";
    private static readonly TimeSpan PurgeEvery = TimeSpan.FromMinutes(1);
    /// <summary>Expired rows deleted by one purge at most, so that one unit of the writer stays short.</summary>
    internal const int PurgeBatch = 10_000;

    private readonly Lock _lock = new();
    // Under _lock: the unexpired nonces by the minute they expire in; those remembered here whose append has not run
    // yet; and those of them that another process appended first.
    private readonly List<(long Minute, HashSet<UInt128> Keys)> _byExpiry = [];
    private readonly HashSet<UInt128> _pending = [];
    private readonly HashSet<UInt128> _taken = [];
    private Task<bool>? _loaded;
    // The writer's loop only.
    private long _seen;
    private long _caughtUpIn = -1;
    private long _purgeDue;
    private long _count;

    /// <summary>Unexpired nonces held in memory (a figure for tests and diagnostics).</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>
    /// True when this pair of access key and nonce was not used before and is now recorded durably; false for a replay
    /// (also one of a nonce another process of the store recorded first).
    /// </summary>
    public async Task<bool> TryRecordAsync(string accessKeyId, string nonce, long expiresAt)
    {
        await LoadedAsync();
        var key = KeyOf(accessKeyId, nonce);
        lock (_lock)
        {
            Forget(clock.GetUtcNow().ToUnixTimeMilliseconds());
            if (Contains(key)) return false;
            Remember(key, expiresAt);
            _pending.Add(key);
        }
        return await writer.WriteAsync(db => AppendAsync(db, key, expiresAt), atomic: true);
    }

    /// <summary>The whole log is read once before the first check; a failed read is tried again by the next request.</summary>
    private async Task LoadedAsync()
    {
        var loaded = _loaded;
        if (loaded is { IsCompletedSuccessfully: true }) return;
        if (loaded is null)
        {
            var load = writer.WriteAsync(async db =>
            {
                await CatchUpAsync(db);
                return true;
            }, atomic: true);
            loaded = Interlocked.CompareExchange(ref _loaded, load, null) ?? load;
        }
        try
        {
            await loaded;
        }
        catch
        {
            _ = Interlocked.CompareExchange(ref _loaded, null, loaded);
            throw;
        }
    }

    private async Task<bool> AppendAsync(RayfleetDbContext db, UInt128 key, long expiresAt)
    {
        try
        {
            await CatchUpAsync(db);
        }
        finally
        {
            // Pending no longer, whatever happens: a failed read leaves the nonce remembered here, and its request failed.
            lock (_lock) _pending.Remove(key);
        }
        lock (_lock)
        {
            if (_taken.Remove(key)) return false;
        }
        await db.ExecutePreparedAsync(Append, [(long)(ulong)(key >> 64), (long)(ulong)key, expiresAt]);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (now >= _purgeDue)
        {
            // A unit of its own in the next batch: this one stays a single statement, and a purge that fails fails alone.
            _purgeDue = now + (long)PurgeEvery.TotalMilliseconds;
            _ = writer.WriteAsync(async purging =>
            {
                await PurgeAsync(purging, now);
                return true;
            });
        }
        return true;
    }

    /// <summary>
    /// Once per transaction of the writer: reads the rows appended since the last look (all of them at first, then what
    /// other processes added) into memory; a pending nonce among them was taken by another process.
    /// </summary>
    private async Task CatchUpAsync(RayfleetDbContext db)
    {
        if (_caughtUpIn == writer.Transaction) return;
        var command = db.Prepared(Since, connection =>
        {
            var created = connection.CreateCommand();
            created.CommandText = Since;
            var parameter = created.CreateParameter();
            parameter.ParameterName = "@p0";
            created.Parameters.Add(parameter);
            return created;
        });
        command.Parameters[0].Value = _seen;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await using (DbDataReader reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                _seen = reader.GetInt64(0);
                var expiresAt = reader.GetInt64(3);
                if (expiresAt < now) continue;
                var key = ((UInt128)(ulong)reader.GetInt64(1) << 64) | (ulong)reader.GetInt64(2);
                lock (_lock)
                {
                    if (_pending.Contains(key)) _taken.Add(key);
                    else Remember(key, expiresAt);
                }
            }
        }
        _caughtUpIn = writer.Transaction;
    }

    /// <summary>
    /// Deletes expired rows from the start of the log, up to the first one not expired yet (a nonce of a request dated
    /// ahead of the clock holds the ones behind it a little longer).
    /// </summary>
    private static async Task PurgeAsync(RayfleetDbContext db, long now)
    {
        var oldest = await db.Nonces.OrderBy(n => n.Seq).Select(n => (long?)n.Seq).FirstOrDefaultAsync();
        if (oldest is null) return;
        var live = await db.Nonces.Where(n => n.ExpiresAt >= now).OrderBy(n => n.Seq).Select(n => (long?)n.Seq).FirstOrDefaultAsync() ?? long.MaxValue;
        var bound = Math.Min(live, oldest.Value + PurgeBatch);
        await db.Nonces.Where(n => n.Seq < bound).ExecuteDeleteAsync();
    }

    private bool Contains(UInt128 key)
    {
        foreach (var (_, keys) in _byExpiry)
            if (keys.Contains(key)) return true;
        return false;
    }

    private void Remember(UInt128 key, long expiresAt)
    {
        var minute = expiresAt / 60_000;
        var i = _byExpiry.Count;
        while (i > 0 && _byExpiry[i - 1].Minute > minute) i--;
        if (i == 0 || _byExpiry[i - 1].Minute != minute) _byExpiry.Insert(i, (minute, []));
        else i--;
        if (_byExpiry[i].Keys.Add(key)) Interlocked.Increment(ref _count);
    }

    /// <summary>Drops the minutes whose nonces have all expired.</summary>
    private void Forget(long now)
    {
        var gone = 0;
        while (gone < _byExpiry.Count && (_byExpiry[gone].Minute + 1) * 60_000 <= now)
        {
            Interlocked.Add(ref _count, -_byExpiry[gone].Keys.Count);
            gone++;
        }
        if (gone > 0) _byExpiry.RemoveRange(0, gone);
    }

    /// <summary>The first 128 bits of SHA-256 over the access key id and the nonce (no two requests collide in practice).</summary>
    internal static UInt128 KeyOf(string accessKeyId, string nonce)
    {
        var text = accessKeyId + "\n" + nonce;
        Span<byte> bytes = stackalloc byte[512];
        var length = Encoding.UTF8.GetByteCount(text);
        var input = length <= bytes.Length ? bytes[..length] : new byte[length];
        Encoding.UTF8.GetBytes(text, input);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return BinaryPrimitives.ReadUInt128BigEndian(hash);
    }
}
