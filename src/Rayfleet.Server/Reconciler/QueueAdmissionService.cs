using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// Takes and gives back queue capacity. A decision holds the admission gate until the pass that asked for it has
/// committed (<see cref="AdmissionLease"/>), so parallel passes can never over-admit a queue. (One process: a later
/// store shared by replicas needs a database lock here instead.)
/// </summary>
/// <remarks>
/// What a workspace's admitted clusters hold is summed from the store once and then kept, under the gate, in step
/// with the grants committed since (every reservation is written by a pass that holds a lease, and a release makes the
/// next decision sum again). Summing every reservation for every decision made a burst of n creates cost n² row
/// reads, all of them behind the one gate.
/// </remarks>
public sealed class QueueAdmissionService(Catalogs catalogs) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Per workspace and queue, what committed reservations hold; read and written only under the gate.</summary>
    private readonly Dictionary<string, Dictionary<string, Amount>> _held = new(StringComparer.Ordinal);

    /// <summary>A queue amount as the reservation rows store it, so that kept sums equal the store's to the unit.</summary>
    internal readonly record struct Amount(long MilliCpu, long MemoryBytes, long MilliCu, long Gpu)
    {
        public static Amount Of(QueueAmountRow r) => new(r.MilliCpu, r.MemoryBytes, r.MilliCu, r.Gpu);
        public static Amount operator +(Amount a, Amount b) => new(a.MilliCpu + b.MilliCpu, a.MemoryBytes + b.MemoryBytes, a.MilliCu + b.MilliCu, a.Gpu + b.Gpu);
        public static Amount operator -(Amount a, Amount b) => new(a.MilliCpu - b.MilliCpu, a.MemoryBytes - b.MemoryBytes, a.MilliCu - b.MilliCu, a.Gpu - b.Gpu);
        public Resources ToResources() => new(MilliCpu, MemoryBytes, MilliCu / 1000m, (int)Gpu);
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>The demand index the API writes with a cluster's desired spec, at its initial size.</summary>
    public static IEnumerable<ClusterDemandRow> DemandRows(string clusterId, string workspaceId, QueueDemand demand) =>
        AmountRows<ClusterDemandRow>(clusterId, workspaceId, demand);

    /// <summary>One row per queue of <paramref name="demand"/>.</summary>
    private static IEnumerable<T> AmountRows<T>(string clusterId, string workspaceId, QueueDemand demand) where T : QueueAmountRow, new() =>
        demand.ByQueue.Select(kv => new T
        {
            ClusterId = clusterId,
            WorkspaceId = workspaceId,
            QueueName = kv.Key,
            MilliCpu = kv.Value.MilliCpu,
            MemoryBytes = kv.Value.MemoryBytes,
            MilliCu = (long)decimal.Ceiling(kv.Value.Cu * 1000m),
            Gpu = kv.Value.Gpu,
        });

    /// <summary>What admitted clusters hold, per queue.</summary>
    public static async Task<QueueDemand> UsedAsync(RayfleetDbContext db, string workspaceId, string? exceptCluster, CancellationToken ct)
    {
        var sums = await db.Reservations.AsNoTracking()
            .Where(r => r.WorkspaceId == workspaceId && r.ClusterId != exceptCluster)
            .GroupBy(r => r.QueueName)
            .Select(g => new { Queue = g.Key, Cpu = g.Sum(r => r.MilliCpu), Mem = g.Sum(r => r.MemoryBytes), Cu = g.Sum(r => r.MilliCu), Gpu = g.Sum(r => r.Gpu) })
            .ToListAsync(ct);
        var total = new QueueDemand();
        foreach (var s in sums) total.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, s.Gpu));
        return total;
    }

    private static async Task<Dictionary<string, QueueCapacity>> CapacitiesAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        (await db.Queues.AsNoTracking().Where(q => q.WorkspaceId == workspaceId).ToListAsync(ct))
            .ToDictionary(q => q.Name, q => new QueueCapacity(q.Name, q.Cu, q.Gpu), StringComparer.Ordinal);

    /// <summary>The clusters of the workspace that want to run and wait for admission (not those that failed).</summary>
    private static IQueryable<ClusterRow> Waiting(RayfleetDbContext db, string workspaceId) =>
        db.Clusters.Where(c => c.WorkspaceId == workspaceId && c.DesiredRunning && !c.Deleted && c.AdmittedReplicasJson == null
                               && (c.State == null || c.State != ClusterState.Error));

    /// <summary>
    /// Decides whether the cluster may hold what <paramref name="runSpec"/> needs at <paramref name="replicas"/> workers
    /// per group, and if so stages the grant (replacing what it held) on <paramref name="db"/>. Clusters that asked
    /// earlier and still wait are served first: their demand counts as taken on every queue where this one grows. The
    /// returned lease keeps other decisions out until the caller has saved and disposed it.
    /// </summary>
    public async Task<AdmissionLease> DecideAsync(
        RayfleetDbContext db, ClusterRow row, ClusterSpec runSpec, IReadOnlyDictionary<string, int> replicas, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var own = await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct);
            var admitted = row.AdmittedReplicasJson is not null;
            var ownHeld = new QueueDemand();
            foreach (var r in own) ownHeld.Add(r.QueueName, new Resources(r.MilliCpu, r.MemoryBytes, r.MilliCu / 1000m, r.Gpu));
            var demand = catalogs.Demand(runSpec, row.Provider, replicas);
            var capacities = await CapacitiesAsync(db, row.WorkspaceId, ct);
            var held = await HeldAsync(db, row.WorkspaceId, ct);
            var used = new QueueDemand();
            foreach (var (queue, amount) in held)
                used.Add(queue, (amount - own.Where(r => r.QueueName == queue).Aggregate(default(Amount), (sum, r) => sum + Amount.Of(r))).ToResources());

            var growing = demand.ByQueue.Where(kv => kv.Value.Cu > ownHeld.For(kv.Key).Cu || kv.Value.Gpu > ownHeld.For(kv.Key).Gpu)
                .Select(kv => kv.Key).ToList();
            var ahead = new QueueDemand();
            if (growing.Count > 0)
            {
                // Everyone still waiting is ahead of a running cluster's scale-up; for a waiting cluster, those who asked
                // earlier. From the waiting clusters to their demand rows, on the index of waiting clusters only: the
                // clusters admitted before do not count, and are not read.
                var queuedAt = admitted ? long.MaxValue : row.QueuedAt;
                var sums = await db.Database.SqlQuery<AheadSum>($"""
                    SELECT d."QueueName" AS "Queue", SUM(d."MilliCpu") AS "Cpu", SUM(d."MemoryBytes") AS "Mem", SUM(d."MilliCu") AS "Cu", SUM(d."Gpu") AS "Gpu"
                    FROM "clusters" AS c INDEXED BY "IX_clusters_Waiting"
                    JOIN "cluster_demands" AS d ON d."ClusterId" = c."Id"
                    WHERE c."WorkspaceId" = {row.WorkspaceId} AND c."AdmittedReplicasJson" IS NULL AND c."DesiredRunning" AND NOT c."Deleted"
                      AND (c."State" IS NULL OR c."State" <> {ClusterState.Error}) AND c."Id" <> {row.Id}
                      AND (c."QueuedAt" < {queuedAt} OR (c."QueuedAt" = {queuedAt} AND c."Id" < {row.Id}))
                    GROUP BY d."QueueName"
                    """).ToListAsync(ct);
                foreach (var s in sums.Where(s => growing.Contains(s.Queue))) ahead.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, (int)s.Gpu));
            }

            var decision = QueueAdmission.Decide(demand, capacities, used, ahead);
            Dictionary<string, Amount>? change = null;
            if (decision.Admitted)
            {
                db.Reservations.RemoveRange(own);
                var granted = AmountRows<ReservationRow>(row.Id, row.WorkspaceId, demand).ToList();
                db.Reservations.AddRange(granted);
                row.AdmittedReplicasJson = JsonSerializer.Serialize(replicas);
                change = new Dictionary<string, Amount>(StringComparer.Ordinal);
                foreach (var r in granted) change[r.QueueName] = change.GetValueOrDefault(r.QueueName) + Amount.Of(r);
                foreach (var r in own) change[r.QueueName] = change.GetValueOrDefault(r.QueueName) - Amount.Of(r);
            }
            return new AdmissionLease(decision, this, row.WorkspaceId, change);
        }
        catch
        {
            _gate.Release();
            throw;
        }
    }

    private sealed record AheadSum(string Queue, long Cpu, long Mem, long Cu, long Gpu);

    /// <summary>What the workspace's reservations hold per queue: kept, or summed from the store when not. Under the gate.</summary>
    private async Task<Dictionary<string, Amount>> HeldAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct)
    {
        if (_held.TryGetValue(workspaceId, out var kept)) return kept;
        var sums = await db.Reservations.AsNoTracking()
            .Where(r => r.WorkspaceId == workspaceId)
            .GroupBy(r => r.QueueName)
            .Select(g => new { Queue = g.Key, Cpu = g.Sum(r => r.MilliCpu), Mem = g.Sum(r => r.MemoryBytes), Cu = g.Sum(r => r.MilliCu), Gpu = g.Sum(r => (long)r.Gpu) })
            .ToListAsync(ct);
        var held = sums.ToDictionary(s => s.Queue, s => new Amount(s.Cpu, s.Mem, s.Cu, s.Gpu), StringComparer.Ordinal);
        _held[workspaceId] = held;
        return held;
    }

    /// <summary>Ends a lease, still under the gate: a committed grant moves the kept sums; one not committed drops them.</summary>
    internal void Finish(string workspaceId, Dictionary<string, Amount>? change, bool committed)
    {
        try
        {
            if (change is null) return;
            if (!committed || !_held.TryGetValue(workspaceId, out var held))
            {
                _held.Remove(workspaceId);
                return;
            }
            foreach (var (queue, delta) in change) held[queue] = held.GetValueOrDefault(queue) + delta;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// To be called once a release staged by <see cref="StageReleaseAsync"/> is committed: the next decision in the
    /// workspace sums its reservations again. Waits for the gate even when the pass is being cancelled.
    /// </summary>
    public async Task ReleasedAsync(string workspaceId)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            _held.Remove(workspaceId);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Clusters of the workspace that want to run and wait for admission, first come first.</summary>
    public static async Task<IReadOnlyList<string>> WaitingAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        await Waiting(db, workspaceId).AsNoTracking()
            .OrderBy(c => c.QueuedAt).ThenBy(c => c.Id)
            .Select(c => c.Id)
            .ToListAsync(ct);

    /// <summary>Stages the release of everything the cluster holds; the caller's save commits it.</summary>
    public static async Task<bool> StageReleaseAsync(RayfleetDbContext db, ClusterRow row, CancellationToken ct)
    {
        var own = await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct);
        db.Reservations.RemoveRange(own);
        row.AdmittedReplicasJson = null;
        return own.Count > 0;
    }
}

/// <summary>
/// An admission decision whose grant, if any, is staged but not saved: the caller says <see cref="Committed"/> after
/// the save that holds it, and disposing it lets the next decision in.
/// </summary>
public sealed class AdmissionLease : IDisposable
{
    private readonly QueueAdmissionService _owner;
    private readonly string _workspaceId;
    private readonly Dictionary<string, QueueAdmissionService.Amount>? _change;
    private bool _committed;
    private int _released;

    internal AdmissionLease(AdmissionDecision decision, QueueAdmissionService owner, string workspaceId, Dictionary<string, QueueAdmissionService.Amount>? change)
    {
        Decision = decision;
        _owner = owner;
        _workspaceId = workspaceId;
        _change = change;
    }

    public AdmissionDecision Decision { get; }

    /// <summary>The save that holds the staged grant succeeded.</summary>
    public void Committed() => _committed = true;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _owner.Finish(_workspaceId, _change, _committed);
    }
}
