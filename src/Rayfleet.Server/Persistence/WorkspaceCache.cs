using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Persistence;

/// <summary>
/// What nearly every request reads about its workspace (the row; its queues, network services and volumes), held in
/// memory instead of read again per request (an informer's cache, in client-go's terms).
/// <list type="bullet">
/// <item>A change this process commits evicts the workspaces it touched before the change is acknowledged
/// (<see cref="WorkspaceCacheInvalidation"/>, on every save and commit of the store), so a caller that saw its change
/// acknowledged never reads the state before it.</item>
/// <item>A change committed by another process sharing the store is seen within <see cref="Ttl"/>.</item>
/// <item>A load that raced with an eviction is not kept: every eviction moves an epoch, and a load is stored only if
/// the epoch did not move while it read.</item>
/// <item>Only workspaces that exist are held, so its size is bounded by the workspaces of the store, whatever ids
/// callers send.</item>
/// </list>
/// </summary>
public sealed class WorkspaceCache(Catalogs catalogs, TimeProvider time)
{
    /// <summary>How long an entry serves before it is read again.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, Entry<WorkspaceRow>> _rows = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Entry<WorkspaceCatalog>> _catalogs = new(StringComparer.Ordinal);
    private long _epoch;

    private sealed record Entry<T>(T Value, long ExpiresAt);

    /// <summary>The workspace's row, or null when it does not exist. The caller gets its own copy.</summary>
    public async Task<WorkspaceRow?> FindAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct)
    {
        var row = await GetAsync(_rows, workspaceId,
            () => db.Workspaces.AsNoTracking().FirstOrDefaultAsync(w => w.Id == workspaceId, ct));
        return row is null ? null : Copy(row);
    }

    /// <summary>The workspace's queues, network services and volumes with the catalogues, as the validator sees them.</summary>
    public async Task<WorkspaceCatalog> CatalogAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        (await GetAsync(_catalogs, workspaceId, async () => (WorkspaceCatalog?)await WorkspaceCatalog.LoadAsync(db, catalogs, workspaceId, ct)))!;

    /// <summary>Drops what is held of these workspaces; the next read goes to the store.</summary>
    public void Evict(IEnumerable<string> workspaceIds)
    {
        // The epoch moves first: a load that read before the change finishes after this and is then not stored.
        Interlocked.Increment(ref _epoch);
        foreach (var id in workspaceIds)
        {
            _rows.TryRemove(id, out _);
            _catalogs.TryRemove(id, out _);
        }
    }

    private async Task<T?> GetAsync<T>(ConcurrentDictionary<string, Entry<T>> entries, string workspaceId, Func<Task<T?>> load)
        where T : class
    {
        var now = time.GetTimestamp();
        if (entries.TryGetValue(workspaceId, out var held) && held.ExpiresAt > now) return held.Value;
        var epoch = Interlocked.Read(ref _epoch);
        var value = await load();
        if (value is null)
        {
            entries.TryRemove(workspaceId, out _);
            return null;
        }
        var entry = new Entry<T>(value, now + (long)(Ttl.TotalSeconds * time.TimestampFrequency));
        if (Interlocked.Read(ref _epoch) == epoch)
        {
            entries[workspaceId] = entry;
            // An eviction between the check and the store: undo, the entry may be older than the change.
            if (Interlocked.Read(ref _epoch) != epoch) entries.TryRemove(KeyValuePair.Create(workspaceId, entry));
        }
        return value;
    }

    private static WorkspaceRow Copy(WorkspaceRow row) => new()
    {
        Id = row.Id,
        Name = row.Name,
        Provider = row.Provider,
        RegionId = row.RegionId,
        ResourceSpec = row.ResourceSpec,
        AttributesJson = row.AttributesJson,
        CreateTime = row.CreateTime,
    };
}

/// <summary>
/// Evicts from the <see cref="WorkspaceCache"/> the workspaces that a save changes (the workspace row, or one of its
/// queues, network services or volumes): at once when the save is its own transaction, at the commit when it runs in
/// one (the store writer's batches), in both cases before the caller of the change is answered.
/// </summary>
public sealed class WorkspaceCacheInvalidation(WorkspaceCache cache) : SaveChangesInterceptor, IDbTransactionInterceptor
{
    private readonly ConditionalWeakTable<DbContext, HashSet<string>> _pending = new();

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        Collect(eventData.Context);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Collect(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        EvictUnlessInTransaction(eventData.Context);
        return result;
    }

    public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        EvictUnlessInTransaction(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public override void SaveChangesFailed(DbContextErrorEventData eventData) => EvictUnlessInTransaction(eventData.Context);

    public override Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        EvictUnlessInTransaction(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionCommitted(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData) => Evict(eventData.Context);

    public Task TransactionCommittedAsync(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Evict(eventData.Context);
        return Task.CompletedTask;
    }

    // A rolled-back or failed transaction changed nothing; what it would have changed is forgotten.
    public void TransactionRolledBack(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData) => Forget(eventData.Context);

    public Task TransactionRolledBackAsync(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    // A failed commit may still have committed (the answer was lost): evicting costs one read.
    public void TransactionFailed(System.Data.Common.DbTransaction transaction, TransactionErrorEventData eventData) => Evict(eventData.Context);

    public Task TransactionFailedAsync(System.Data.Common.DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Evict(eventData.Context);
        return Task.CompletedTask;
    }

    /// <summary>Whether a change to rows of this type must evict cached workspaces (it has to go through SaveChanges).</summary>
    public static bool Watches(Type rowType) =>
        rowType == typeof(WorkspaceRow) || rowType == typeof(QueueRow) || rowType == typeof(NetworkServiceRow) || rowType == typeof(VolumeRow);

    private void Collect(DbContext? context)
    {
        if (context is null) return;
        HashSet<string>? ids = null;
        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified or EntityState.Deleted)) continue;
            var id = entry.Entity switch
            {
                WorkspaceRow w => w.Id,
                QueueRow q => q.WorkspaceId,
                NetworkServiceRow n => n.WorkspaceId,
                VolumeRow v => v.WorkspaceId,
                _ => null,
            };
            if (id is null) continue;
            ids ??= _pending.GetValue(context, _ => new HashSet<string>(StringComparer.Ordinal));
            lock (ids) ids.Add(id);
        }
    }

    private void EvictUnlessInTransaction(DbContext? context)
    {
        if (context is null || context.Database.CurrentTransaction is not null) return;
        Evict(context);
    }

    private void Evict(DbContext? context)
    {
        if (context is null || !_pending.TryGetValue(context, out var ids)) return;
        string[] evicted;
        lock (ids)
        {
            if (ids.Count == 0) return;
            evicted = [.. ids];
            ids.Clear();
        }
        cache.Evict(evicted);
    }

    private void Forget(DbContext? context)
    {
        if (context is null || !_pending.TryGetValue(context, out var ids)) return;
        lock (ids) ids.Clear();
    }
}
