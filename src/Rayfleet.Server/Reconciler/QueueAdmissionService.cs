using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Core.Contracts;

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

    /// <summary>
    /// Per workspace and queue, what committed reservations hold, apart from those of first grants still in flight;
    /// read and written only under <see cref="_sums"/>.
    /// </summary>
    private readonly Dictionary<string, Dictionary<string, Amount>> _held = new(StringComparer.Ordinal);

    /// <summary>
    /// First grants decided but not yet known to be committed, per workspace and cluster: they count as held for every
    /// decision, and their clusters no longer count as waiting ahead. Under <see cref="_sums"/>.
    /// </summary>
    private readonly Dictionary<string, Dictionary<string, Dictionary<string, Amount>>> _inFlight = new(StringComparer.Ordinal);

    /// <summary>Guards the kept sums: taken briefly by decisions (which hold the gate too) and by leases that end.</summary>
    private readonly Lock _sums = new();

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

    // Asked on every admission decision: translated once.
    private static readonly Func<RayfleetDbContext, string, IAsyncEnumerable<ReservationRow>> OwnQuery =
        EF.CompileAsyncQuery((RayfleetDbContext db, string clusterId) => db.Reservations.Where(r => r.ClusterId == clusterId));

    private static readonly Func<RayfleetDbContext, string, IAsyncEnumerable<QueueRow>> QueuesQuery =
        EF.CompileAsyncQuery((RayfleetDbContext db, string workspaceId) => db.Queues.AsNoTracking().Where(q => q.WorkspaceId == workspaceId));

    private static async Task<Dictionary<string, QueueCapacity>> CapacitiesAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        (await QueuesQuery(db, workspaceId).ToListAsync(ct))
            .ToDictionary(q => q.Name, q => new QueueCapacity(q.Name, q.Cu, q.Gpu), StringComparer.Ordinal);

    /// <summary>The clusters of the workspace that want to run and wait for admission (not those that failed).</summary>
    private static IQueryable<ClusterRow> Waiting(RayfleetDbContext db, string workspaceId) =>
        db.Clusters.Where(c => c.WorkspaceId == workspaceId && c.DesiredRunning && !c.Deleted && c.AdmittedReplicasJson == null
                               && (c.State == null || c.State != ClusterState.Error));

    /// <summary>
    /// Decides whether the cluster may hold what <paramref name="runSpec"/> needs at <paramref name="replicas"/> workers
    /// per group, and if so stages the grant (replacing what it held) on <paramref name="db"/>. Clusters that asked
    /// earlier and still wait are served first: their demand counts as taken on every queue where this one grows.
    /// </summary>
    /// <remarks>
    /// A first grant (the cluster held nothing) lets the next decision in at once: it counts as held, in flight, until
    /// the caller has saved and disposed the lease, so a burst of new clusters is admitted one decision after another,
    /// not one commit after another. Any other decision (a change of size, a denial) keeps other decisions out until
    /// the lease is disposed, as its grant replaces rows that the kept sums hold.
    /// </remarks>
    public async Task<AdmissionLease> DecideAsync(
        RayfleetDbContext db, ClusterRow row, ClusterSpec runSpec, IReadOnlyDictionary<string, int> replicas, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var own = await OwnQuery(db, row.Id).ToListAsync(ct);
            var admitted = row.AdmittedReplicasJson is not null;
            var ownHeld = new QueueDemand();
            foreach (var r in own) ownHeld.Add(r.QueueName, new Resources(r.MilliCpu, r.MemoryBytes, r.MilliCu / 1000m, r.Gpu));
            var demand = catalogs.Demand(runSpec, row.Provider, replicas);
            var capacities = await CapacitiesAsync(db, row.WorkspaceId, ct);
            var (held, inFlight) = await HeldAsync(db, row.WorkspaceId, ct);
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
                var granted = JsonSerializer.Serialize(inFlight, WireJson.Default.ListString);
                var sums = await db.Database.SqlQuery<AheadSum>($"""
                    SELECT d."QueueName" AS "Queue", SUM(d."MilliCpu") AS "Cpu", SUM(d."MemoryBytes") AS "Mem", SUM(d."MilliCu") AS "Cu", SUM(d."Gpu") AS "Gpu"
                    FROM "clusters" AS c INDEXED BY "IX_clusters_Waiting"
                    JOIN "cluster_demands" AS d ON d."ClusterId" = c."Id"
                    WHERE c."WorkspaceId" = {row.WorkspaceId} AND c."AdmittedReplicasJson" IS NULL AND c."DesiredRunning" AND NOT c."Deleted"
                      AND (c."State" IS NULL OR c."State" <> {ClusterState.Error}) AND c."Id" <> {row.Id}
                      AND (c."QueuedAt" < {queuedAt} OR (c."QueuedAt" = {queuedAt} AND c."Id" < {row.Id}))
                      AND c."Id" NOT IN (SELECT "value" FROM json_each({granted}))
                    GROUP BY d."QueueName"
                    """).ToListAsync(ct);
                foreach (var s in sums.Where(s => growing.Contains(s.Queue))) ahead.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, (int)s.Gpu));
            }

            var decision = QueueAdmission.Decide(demand, capacities, used, ahead);
            Dictionary<string, Amount>? change = null;
            var first = decision.Admitted && own.Count == 0;
            if (decision.Admitted)
            {
                db.Reservations.RemoveRange(own);
                var granted = AmountRows<ReservationRow>(row.Id, row.WorkspaceId, demand).ToList();
                db.Reservations.AddRange(granted);
                row.AdmittedReplicasJson = JsonSerializer.Serialize(replicas, WireJson.Default.IReadOnlyDictionaryStringInt32);
                change = new Dictionary<string, Amount>(StringComparer.Ordinal);
                foreach (var r in granted) change[r.QueueName] = change.GetValueOrDefault(r.QueueName) + Amount.Of(r);
                foreach (var r in own) change[r.QueueName] = change.GetValueOrDefault(r.QueueName) - Amount.Of(r);
            }
            if (!first) return new AdmissionLease(decision, this, row.WorkspaceId, row.Id, change, holdsGate: true);
            lock (_sums)
            {
                if (!_inFlight.TryGetValue(row.WorkspaceId, out var flying))
                    _inFlight[row.WorkspaceId] = flying = new Dictionary<string, Dictionary<string, Amount>>(StringComparer.Ordinal);
                flying[row.Id] = change!;
            }
            _gate.Release();
            return new AdmissionLease(decision, this, row.WorkspaceId, row.Id, change, holdsGate: false);
        }
        catch
        {
            _gate.Release();
            throw;
        }
    }

    private sealed record AheadSum(string Queue, long Cpu, long Mem, long Cu, long Gpu);

    /// <summary>
    /// What the workspace's reservations hold per queue (kept, or summed from the store when not) with the first grants
    /// in flight added, and the clusters of those grants. Under the gate.
    /// </summary>
    private async Task<(Dictionary<string, Amount> Held, List<string> InFlight)> HeldAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct)
    {
        while (true)
        {
            List<string> flyingIds;
            lock (_sums)
            {
                if (_held.TryGetValue(workspaceId, out var kept)) return WithInFlight(workspaceId, kept);
                flyingIds = _inFlight.TryGetValue(workspaceId, out var flying) ? [.. flying.Keys] : [];
            }
            // Without the grants in flight, committed or not: each joins the kept sums when its lease ends committed.
            var sums = await db.Reservations.AsNoTracking()
                .Where(r => r.WorkspaceId == workspaceId && !flyingIds.Contains(r.ClusterId))
                .GroupBy(r => r.QueueName)
                .Select(g => new { Queue = g.Key, Cpu = g.Sum(r => r.MilliCpu), Mem = g.Sum(r => r.MemoryBytes), Cu = g.Sum(r => r.MilliCu), Gpu = g.Sum(r => (long)r.Gpu) })
                .ToListAsync(ct);
            lock (_sums)
            {
                // Only leases ending can change what is in flight (a grant is added under the gate, which this holds).
                // One that ended while the store was read left the sums without its grant: read again.
                if ((_inFlight.TryGetValue(workspaceId, out var flying) ? flying.Count : 0) != flyingIds.Count) continue;
                var kept = sums.ToDictionary(s => s.Queue, s => new Amount(s.Cpu, s.Mem, s.Cu, s.Gpu), StringComparer.Ordinal);
                _held[workspaceId] = kept;
                return WithInFlight(workspaceId, kept);
            }
        }
    }

    /// <summary>The kept sums with the grants in flight added, and their clusters. Under <see cref="_sums"/>.</summary>
    private (Dictionary<string, Amount> Held, List<string> InFlight) WithInFlight(string workspaceId, Dictionary<string, Amount> kept)
    {
        var held = new Dictionary<string, Amount>(kept, StringComparer.Ordinal);
        var ids = new List<string>();
        if (_inFlight.TryGetValue(workspaceId, out var flying))
            foreach (var (id, grant) in flying)
            {
                ids.Add(id);
                foreach (var (queue, amount) in grant) held[queue] = held.GetValueOrDefault(queue) + amount;
            }
        return (held, ids);
    }

    /// <summary>
    /// Ends a lease: a committed grant moves the kept sums, one not committed drops them (the next decision sums
    /// again); a first grant leaves the in-flight ones. Releases the gate when the lease held it.
    /// </summary>
    internal void Finish(string workspaceId, string clusterId, Dictionary<string, Amount>? change, bool committed, bool holdsGate)
    {
        try
        {
            if (change is null) return;
            lock (_sums)
            {
                if (!holdsGate && _inFlight.TryGetValue(workspaceId, out var flying))
                {
                    flying.Remove(clusterId);
                    if (flying.Count == 0) _inFlight.Remove(workspaceId);
                }
                if (!committed || !_held.TryGetValue(workspaceId, out var held))
                {
                    // Not committed, or maybe committed (a failed commit): the next decision sums the store again.
                    if (!committed) _held.Remove(workspaceId);
                    return;
                }
                foreach (var (queue, delta) in change) held[queue] = held.GetValueOrDefault(queue) + delta;
            }
        }
        finally
        {
            if (holdsGate) _gate.Release();
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
            lock (_sums) _held.Remove(workspaceId);
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
        var own = await OwnQuery(db, row.Id).ToListAsync(ct);
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
    private readonly string _clusterId;
    private readonly Dictionary<string, QueueAdmissionService.Amount>? _change;
    private readonly bool _holdsGate;
    private bool _committed;
    private int _released;

    internal AdmissionLease(AdmissionDecision decision, QueueAdmissionService owner, string workspaceId, string clusterId,
        Dictionary<string, QueueAdmissionService.Amount>? change, bool holdsGate)
    {
        Decision = decision;
        _owner = owner;
        _workspaceId = workspaceId;
        _clusterId = clusterId;
        _change = change;
        _holdsGate = holdsGate;
    }

    public AdmissionDecision Decision { get; }

    /// <summary>The save that holds the staged grant succeeded.</summary>
    public void Committed() => _committed = true;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _owner.Finish(_workspaceId, _clusterId, _change, _committed, _holdsGate);
    }
}
