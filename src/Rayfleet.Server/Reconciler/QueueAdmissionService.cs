using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// Takes and gives back queue capacity. Decisions run one at a time and commit before the next one reads what is
/// used, so parallel requests can never over-admit a queue. (One process: a later store shared by replicas needs a
/// database lock here instead.)
/// </summary>
public sealed class QueueAdmissionService(Catalogs catalogs) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public void Dispose() => _gate.Dispose();

    public static QueueDemand ReservedBy(IEnumerable<ReservationRow> rows)
    {
        var demand = new QueueDemand();
        foreach (var r in rows) demand.Add(r.QueueName, new Resources(r.MilliCpu, r.MemoryBytes, r.MilliCu / 1000m, r.Gpu));
        return demand;
    }

    public static async Task<Dictionary<string, QueueCapacity>> CapacitiesAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        (await db.Queues.AsNoTracking().Where(q => q.WorkspaceId == workspaceId).ToListAsync(ct))
            .ToDictionary(q => q.Name, q => new QueueCapacity(q.Name, q.Cu, q.Gpu), StringComparer.Ordinal);

    public static async Task<QueueDemand> UsedAsync(RayfleetDbContext db, string workspaceId, string? exceptCluster, CancellationToken ct)
    {
        var sums = await db.Reservations.AsNoTracking()
            .Where(r => r.WorkspaceId == workspaceId && r.ClusterId != exceptCluster)
            .GroupBy(r => r.QueueName)
            .Select(g => new { Queue = g.Key, Cpu = g.Sum(r => r.MilliCpu), Mem = g.Sum(r => r.MemoryBytes), Cu = g.Sum(r => r.MilliCu), Gpu = g.Sum(r => r.Gpu) })
            .ToListAsync(ct);
        var used = new QueueDemand();
        foreach (var s in sums) used.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, s.Gpu));
        return used;
    }

    /// <summary>
    /// Reserves what <paramref name="runSpec"/> needs at <paramref name="replicas"/> workers per group for the cluster,
    /// replacing what it held, and commits together with the row's other pending changes. Clusters that asked earlier and
    /// still wait are served first on every queue where this one grows.
    /// </summary>
    public async Task<AdmissionDecision> TryReserveAsync(
        RayfleetDbContext db, ClusterRow row, ClusterSpec runSpec, IReadOnlyDictionary<string, int> replicas, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var own = await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct);
            var held = ReservedBy(own);
            var demand = catalogs.Demand(runSpec, replicas);
            var capacities = await CapacitiesAsync(db, row.WorkspaceId, ct);
            var used = await UsedAsync(db, row.WorkspaceId, row.Id, ct);

            var growing = demand.ByQueue.Where(kv => kv.Value.Cu > held.For(kv.Key).Cu || kv.Value.Gpu > held.For(kv.Key).Gpu)
                .Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            var ahead = new QueueDemand();
            if (growing.Count > 0)
            {
                // Everyone still waiting is ahead of a running cluster's scale-up; for a waiting cluster, those who asked earlier.
                var admitted = row.AdmittedReplicasJson is not null;
                var waiting = await db.Clusters.AsNoTracking()
                    .Where(c => c.WorkspaceId == row.WorkspaceId && c.DesiredRunning && !c.Deleted && c.AdmittedReplicasJson == null
                                && c.Id != row.Id && c.RunSpecJson != null
                                && (admitted || c.QueuedAt < row.QueuedAt || (c.QueuedAt == row.QueuedAt && string.Compare(c.Id, row.Id) < 0)))
                    .Select(c => c.RunSpecJson!)
                    .ToListAsync(ct);
                foreach (var json in waiting)
                    foreach (var (queue, amount) in catalogs.Demand(ClusterSpec.FromJson(json)).ByQueue)
                        if (growing.Contains(queue)) ahead.Add(queue, amount);
            }

            var decision = QueueAdmission.Decide(demand, capacities, used, ahead);
            if (!decision.Admitted) return decision;

            db.Reservations.RemoveRange(own);
            foreach (var (queue, amount) in demand.ByQueue)
                db.Reservations.Add(new ReservationRow
                {
                    ClusterId = row.Id,
                    WorkspaceId = row.WorkspaceId,
                    QueueName = queue,
                    MilliCpu = amount.MilliCpu,
                    MemoryBytes = amount.MemoryBytes,
                    MilliCu = (long)decimal.Ceiling(amount.Cu * 1000m),
                    Gpu = amount.Gpu,
                });
            row.AdmittedReplicasJson = JsonSerializer.Serialize(replicas);
            await db.SaveChangesAsync(ct);
            return decision;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stages the release of everything the cluster holds; the caller's save commits it.</summary>
    public static async Task<bool> StageReleaseAsync(RayfleetDbContext db, ClusterRow row, CancellationToken ct)
    {
        var own = await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct);
        db.Reservations.RemoveRange(own);
        row.AdmittedReplicasJson = null;
        return own.Count > 0;
    }
}
