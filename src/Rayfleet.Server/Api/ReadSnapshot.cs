using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>
/// The reads of one List in one snapshot, so that its total, the rows it skips and the rows it returns agree: a
/// deferred SQLite transaction, which in WAL mode holds no lock that a writer waits on (EF Core's own
/// <c>BeginTransaction</c> is <c>BEGIN IMMEDIATE</c>, the writer's lock). Disposing it ends the snapshot.
/// </summary>
public sealed class ReadSnapshot : IAsyncDisposable
{
    private readonly RayfleetDbContext _db;
    private readonly SqliteTransaction? _transaction;

    private ReadSnapshot(RayfleetDbContext db, SqliteTransaction? transaction)
    {
        _db = db;
        _transaction = transaction;
    }

    public static async Task<ReadSnapshot> BeginAsync(RayfleetDbContext db, CancellationToken ct)
    {
        // Another store (or a caller's transaction already open) reads as it always did.
        if (db.Database.GetDbConnection() is not SqliteConnection connection || db.Database.CurrentTransaction is not null)
            return new ReadSnapshot(db, null);
        await db.Database.OpenConnectionAsync(ct);
        var transaction = connection.BeginTransaction(deferred: true);
        await db.Database.UseTransactionAsync(transaction, ct);
        return new ReadSnapshot(db, transaction);
    }

    /// <summary><paramref name="items"/>, read to their end (or to an error) inside the snapshot, which then ends.</summary>
    public async IAsyncEnumerable<T> Around<T>(IAsyncEnumerable<T> items, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await using (this)
        {
            await foreach (var item in items.WithCancellation(ct))
                yield return item;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_transaction is null) return;
        await _db.Database.UseTransactionAsync(null);
        await _transaction.DisposeAsync();
        await _db.Database.CloseConnectionAsync();
    }
}
