using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace Rayfleet.Server.Persistence;

/// <summary>
/// The one writer of the store, with group commit (etcd's batched backend, PostgreSQL's group commit): every change
/// of the service is a unit queued here; the writer runs the units that arrived while the previous commit was in flight
/// in one transaction, each inside a savepoint of its own, commits once, and only then answers each unit. Many
/// concurrent requests share one commit (one fsync), nothing waits on the store's write lock, and a change is still
/// durable before its caller hears of it.
/// </summary>
/// <remarks>
/// A unit that fails (a concurrency check, a constraint) is rolled back to its savepoint and fails alone; the others of
/// its batch commit. A failed commit fails every unit of the batch, so nobody is told that a change is durable unless
/// it is. The writer keeps one context and one open connection; after a failed batch it starts with fresh ones.
/// </remarks>
public sealed partial class StoreWriter : IAsyncDisposable
{
    /// <summary>Units in one commit at most: a bound on the transaction, not on throughput (the next batch follows at once).</summary>
    public const int MaxBatch = 256;

    /// <summary>Units a batch waits for (yielding at most <see cref="GatherYields"/> times) before it runs with fewer.</summary>
    private const int GatherTarget = 8;
    private const int GatherYields = 16;

    private readonly IServiceProvider _services;
    private readonly ILogger<StoreWriter> _logger;
    private readonly Channel<Unit> _units = Channel.CreateUnbounded<Unit>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private long _commits;
    private long _written;
    private long _busyTicks;
    private long _failed;
    private long _commitTicks;

    public StoreWriter(IServiceProvider services, ILogger<StoreWriter> logger)
    {
        _services = services;
        _logger = logger;
        // The loop must not carry the ambient state (request, activity, log scopes) of whoever resolved the writer first.
        using (ExecutionContext.SuppressFlow()) _loop = Task.Run(LoopAsync);
    }

    /// <summary>Commits so far, and units they held (a figure for the bench and for tests of batching).</summary>
    public (long Commits, long Units) Counts => (Interlocked.Read(ref _commits), Interlocked.Read(ref _written));

    /// <summary>
    /// The number of the transaction the writer is running (or ran last). Units read it to do a thing once per
    /// transaction: every unit of one transaction runs under the store's write lock, which no other process can take
    /// before the commit.
    /// </summary>
    internal long Transaction { get; private set; }

    /// <summary>Units that failed alone (a concurrency check, a constraint) and were rolled back to their savepoint.</summary>
    public long FailedUnits => Interlocked.Read(ref _failed);

    /// <summary>Time the writer has spent running batches, commits included: near the wall time means it is the bottleneck.</summary>
    public TimeSpan Busy => TimeSpan.FromTicks(Interlocked.Read(ref _busyTicks));

    /// <summary>The part of <see cref="Busy"/> spent in the commits themselves (the log's write and sync).</summary>
    public TimeSpan Committing => TimeSpan.FromTicks(Interlocked.Read(ref _commitTicks));

    /// <summary>
    /// Runs <paramref name="work"/> on the writer's context inside the next batch; returns its result once the batch is
    /// committed. What it stages must be saved by itself (<see cref="DbContext.SaveChangesAsync(CancellationToken)"/>
    /// on the context it is given). A unit of one statement may say so (<paramref name="atomic"/>) and runs without a
    /// savepoint.
    /// </summary>
    public Task<T> WriteAsync<T>(Func<RayfleetDbContext, Task<T>> work, bool atomic = false)
    {
        var unit = new Unit<T>(work, atomic);
        ObjectDisposedException.ThrowIf(!_units.Writer.TryWrite(unit), this);
        return unit.Result.Task;
    }

    /// <summary>
    /// Saves what <paramref name="source"/> tracks as changed, in the next batch, as its own SaveChanges would (the same
    /// optimistic checks, the same exceptions); on success <paramref name="source"/> accepts its changes. When
    /// <paramref name="precondition"/> is given it runs first in the same savepoint and a false answer saves nothing.
    /// </summary>
    public async Task<bool> SaveAsync(RayfleetDbContext source, Func<RayfleetDbContext, Task<bool>>? precondition = null) =>
        await SaveCountedAsync(source, precondition) is not null;

    /// <summary>As <see cref="SaveAsync"/>; the number of rows saved, or null when the precondition said no.</summary>
    internal async Task<int?> SaveCountedAsync(RayfleetDbContext source, Func<RayfleetDbContext, Task<bool>>? precondition = null)
    {
        // One scan for changes: Entries() would scan again on every call.
        source.ChangeTracker.DetectChanges();
        var autoDetect = source.ChangeTracker.AutoDetectChangesEnabled;
        source.ChangeTracker.AutoDetectChangesEnabled = false;
        List<EntityEntry> entries;
        try
        {
            // Deletions first: a row deleted and added again with the same key (a replaced demand row) is tracked by EF
            // as a pair only in that order.
            entries = source.ChangeTracker.Entries()
                .Where(e => e.State is EntityState.Added or EntityState.Modified or EntityState.Deleted)
                .OrderBy(e => e.State switch { EntityState.Deleted => 0, EntityState.Modified => 1, _ => 2 })
                .ToList();
        }
        finally
        {
            source.ChangeTracker.AutoDetectChangesEnabled = autoDetect;
        }
        if (entries.Count == 0 && precondition is null) return 0;

        // Changed and new rows of plain tables go through prepared UPDATEs and INSERTs whose values are read here, on
        // the caller's thread; the rest through EF's save on the writer's context, before them (deletions first).
        var updates = new List<(UpdatePlan Plan, object?[] Values)>();
        var inserts = new List<(EntityEntry Entry, InsertPlan Plan, object?[] Values)>();
        var tracked = new List<EntityEntry>(entries.Count);
        var prepared = source.PreparedWrites;
        foreach (var entry in entries)
        {
            if (prepared && entry.State == EntityState.Added && InsertPlan.For(entry.Metadata) is { } insert) inserts.Add((entry, insert, insert.Values(entry)));
            else if (prepared && entry.State == EntityState.Modified && UpdatePlan.For(entry) is { } update) updates.Add((update, update.Prepare(entry)));
            else tracked.Add(entry);
        }
        var keys = new object?[inserts.Count];
        var saved = await WriteAsync(async db =>
        {
            if (precondition is not null && !await precondition(db)) return false;
            if (tracked.Count > 0)
            {
                foreach (var entry in tracked) Track(db, entry);
                await db.SaveDirectAsync();
            }
            foreach (var (plan, values) in updates) await plan.RunAsync(db, values);
            for (var i = 0; i < inserts.Count; i++) keys[i] = await inserts[i].Plan.RunAsync(db, inserts[i].Values);
            return true;
        });
        if (!saved) return null;
        for (var i = 0; i < inserts.Count; i++) inserts[i].Plan.Accept(inserts[i].Entry, keys[i]);
        source.ChangeTracker.AcceptAllChanges();
        return entries.Count;
    }

    /// <summary>The entry's change on the writer's context: what it was read as (the concurrency check) and what changed.</summary>
    private static void Track(RayfleetDbContext db, EntityEntry source)
    {
        var target = db.Entry(source.Entity);
        switch (source.State)
        {
            case EntityState.Added:
                target.State = EntityState.Added;
                break;
            case EntityState.Deleted:
                target.State = EntityState.Unchanged;
                target.OriginalValues.SetValues(source.OriginalValues);
                target.State = EntityState.Deleted;
                break;
            case EntityState.Modified:
                target.State = EntityState.Unchanged;
                target.OriginalValues.SetValues(source.OriginalValues);
                foreach (var property in source.Properties)
                    if (property.IsModified) target.Property(property.Metadata.Name).IsModified = true;
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _units.Writer.TryComplete();
        await _loop;
    }

    private async Task LoopAsync()
    {
        RayfleetDbContext? db = null;
        var batch = new List<Unit>(MaxBatch);
        try
        {
            while (await _units.Reader.WaitToReadAsync())
            {
                batch.Clear();
                while (batch.Count < MaxBatch && _units.Reader.TryRead(out var unit)) batch.Add(unit);
                // A small batch waits a moment for the units of requests already running (PostgreSQL's commit_delay,
                // without a timer): each yield lets the work queued on the thread pool run first, and those requests'
                // units join this commit instead of paying for one of their own. With nothing else to run a yield
                // returns at once, so a lone change is not held up.
                for (var i = 0; i < GatherYields && batch.Count < GatherTarget; i++)
                {
                    await Task.Yield();
                    while (batch.Count < MaxBatch && _units.Reader.TryRead(out var unit)) batch.Add(unit);
                }
                if (batch.Count == 0) continue;
                if (db is null)
                {
                    // Its own context, not one leased from the pool: it lives as long as the writer.
                    db = new RayfleetDbContext(_services.GetRequiredService<DbContextOptions<RayfleetDbContext>>()) { IsWriter = true };
                    // Savepoints are the writer's, one per unit; EF's own around each SaveChanges would double them.
                    db.Database.AutoSavepointsEnabled = false;
                }
                var started = Stopwatch.GetTimestamp();
                var committed = await RunBatchAsync(db, batch);
                Interlocked.Add(ref _busyTicks, Stopwatch.GetElapsedTime(started).Ticks);
                if (!committed)
                {
                    // The connection or the context may be in any state after a failed commit: start again from fresh ones.
                    await db.DisposeAsync();
                    db = null;
                }
            }
        }
        finally
        {
            if (db is not null) await db.DisposeAsync();
        }
    }

    /// <summary>False when the batch as a whole failed (begin or commit); each unit has its answer either way.</summary>
    private async Task<bool> RunBatchAsync(RayfleetDbContext db, List<Unit> batch)
    {
        Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction;
        try
        {
            // Opened by the writer, so EF keeps it open between batches, and with it the prepared statements.
            if (db.Database.GetDbConnection().State != System.Data.ConnectionState.Open) await db.Database.OpenConnectionAsync();
            transaction = await db.Database.BeginTransactionAsync();
            Transaction++;
        }
        catch (Exception ex)
        {
            LogBatchFailed(_logger, ex, batch.Count);
            foreach (var unit in batch) unit.Fail(ex);
            return false;
        }

        var succeeded = new List<Unit>(batch.Count);
        await using (transaction)
        {
            try
            {
                foreach (var unit in batch)
                {
                    var savepoint = !unit.Atomic;
                    try
                    {
                        if (savepoint) await transaction.CreateSavepointAsync("unit");
                        await unit.RunAsync(db);
                        if (savepoint) await transaction.ReleaseSavepointAsync("unit");
                        succeeded.Add(unit);
                    }
                    catch (Exception ex)
                    {
                        // Only this unit's statements are undone; an atomic unit that failed wrote nothing.
                        if (savepoint) await transaction.RollbackToSavepointAsync("unit");
                        Interlocked.Increment(ref _failed);
                        unit.Fail(ex);
                    }
                    finally
                    {
                        db.ChangeTracker.Clear();
                    }
                }
                var committing = Stopwatch.GetTimestamp();
                await transaction.CommitAsync();
                Interlocked.Add(ref _commitTicks, Stopwatch.GetElapsedTime(committing).Ticks);
            }
            catch (Exception ex)
            {
                LogBatchFailed(_logger, ex, batch.Count);
                foreach (var unit in batch) unit.Fail(ex);
                return false;
            }
        }
        Interlocked.Increment(ref _commits);
        Interlocked.Add(ref _written, succeeded.Count);
        foreach (var unit in succeeded) unit.Complete();
        return true;
    }

    private abstract class Unit(bool atomic)
    {
        public bool Atomic { get; } = atomic;
        public abstract Task RunAsync(RayfleetDbContext db);
        public abstract void Complete();
        public abstract void Fail(Exception ex);
    }

    private sealed class Unit<T>(Func<RayfleetDbContext, Task<T>> work, bool atomic) : Unit(atomic)
    {
        private T? _value;
        public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override async Task RunAsync(RayfleetDbContext db) => _value = await work(db);
        public override void Complete() => Result.TrySetResult(_value!);
        public override void Fail(Exception ex) => Result.TrySetException(ex);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A store commit of {Units} change(s) failed; each of them was answered with the failure")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int units);
}
