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
public sealed class QueueAdmissionService(Catalogs catalogs) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

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
            var held = new QueueDemand();
            foreach (var r in own) held.Add(r.QueueName, new Resources(r.MilliCpu, r.MemoryBytes, r.MilliCu / 1000m, r.Gpu));
            var demand = catalogs.Demand(runSpec, row.Provider, replicas);
            var capacities = await CapacitiesAsync(db, row.WorkspaceId, ct);
            var used = await UsedAsync(db, row.WorkspaceId, row.Id, ct);

            var growing = demand.ByQueue.Where(kv => kv.Value.Cu > held.For(kv.Key).Cu || kv.Value.Gpu > held.For(kv.Key).Gpu)
                .Select(kv => kv.Key).ToList();
            var ahead = new QueueDemand();
            if (growing.Count > 0)
            {
                // Everyone still waiting is ahead of a running cluster's scale-up; for a waiting cluster, those who asked earlier.
                var waiting = Waiting(db, row.WorkspaceId).Where(c => c.Id != row.Id);
                if (!admitted)
                    waiting = waiting.Where(c => c.QueuedAt < row.QueuedAt || (c.QueuedAt == row.QueuedAt && string.Compare(c.Id, row.Id) < 0));
                var sums = await db.Demands.AsNoTracking()
                    .Where(d => growing.Contains(d.QueueName) && waiting.Any(c => c.Id == d.ClusterId))
                    .GroupBy(d => d.QueueName)
                    .Select(g => new { Queue = g.Key, Cpu = g.Sum(d => d.MilliCpu), Mem = g.Sum(d => d.MemoryBytes), Cu = g.Sum(d => d.MilliCu), Gpu = g.Sum(d => d.Gpu) })
                    .ToListAsync(ct);
                foreach (var s in sums) ahead.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, s.Gpu));
            }

            var decision = QueueAdmission.Decide(demand, capacities, used, ahead);
            if (decision.Admitted)
            {
                db.Reservations.RemoveRange(own);
                db.Reservations.AddRange(AmountRows<ReservationRow>(row.Id, row.WorkspaceId, demand));
                row.AdmittedReplicasJson = JsonSerializer.Serialize(replicas);
            }
            return new AdmissionLease(decision, _gate);
        }
        catch
        {
            _gate.Release();
            throw;
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

/// <summary>An admission decision whose grant, if any, is staged but not saved: disposing it lets the next decision in.</summary>
public sealed class AdmissionLease(AdmissionDecision decision, SemaphoreSlim gate) : IDisposable
{
    private int _released;

    public AdmissionDecision Decision { get; } = decision;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release();
    }
}
