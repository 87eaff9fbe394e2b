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

    /// <summary>What admitted clusters hold, per queue.</summary>
    public static Task<QueueDemand> UsedAsync(RayfleetDbContext db, string workspaceId, string? exceptCluster, CancellationToken ct) =>
        SumAsync(db.Reservations.Where(r => r.WorkspaceId == workspaceId && r.Granted && r.ClusterId != exceptCluster), ct);

    private static async Task<QueueDemand> SumAsync(IQueryable<ReservationRow> rows, CancellationToken ct)
    {
        var sums = await rows.AsNoTracking()
            .GroupBy(r => r.QueueName)
            .Select(g => new { Queue = g.Key, Cpu = g.Sum(r => r.MilliCpu), Mem = g.Sum(r => r.MemoryBytes), Cu = g.Sum(r => r.MilliCu), Gpu = g.Sum(r => r.Gpu) })
            .ToListAsync(ct);
        var total = new QueueDemand();
        foreach (var s in sums) total.Add(s.Queue, new Resources(s.Cpu, s.Mem, s.Cu / 1000m, s.Gpu));
        return total;
    }

    /// <summary>The rows that ask for <paramref name="demand"/> on behalf of a cluster that waits, in the order it asked.</summary>
    public static IEnumerable<ReservationRow> Requests(ClusterRow row, QueueDemand demand) =>
        demand.ByQueue.Select(kv => new ReservationRow
        {
            ClusterId = row.Id,
            WorkspaceId = row.WorkspaceId,
            QueueName = kv.Key,
            MilliCpu = kv.Value.MilliCpu,
            MemoryBytes = kv.Value.MemoryBytes,
            MilliCu = (long)decimal.Ceiling(kv.Value.Cu * 1000m),
            Gpu = kv.Value.Gpu,
            Granted = false,
            QueuedAt = row.QueuedAt,
        });

    /// <summary>
    /// Reserves what <paramref name="runSpec"/> needs at <paramref name="replicas"/> workers per group for the cluster,
    /// replacing what it held, and commits together with the row's other pending changes. Clusters that asked earlier
    /// and still wait are served first: their requests count as taken on every queue where this one grows. A cluster
    /// that has to wait keeps (or gets) its request rows, for those that come after it; the caller's save commits them.
    /// </summary>
    public async Task<AdmissionDecision> TryReserveAsync(
        RayfleetDbContext db, ClusterRow row, ClusterSpec runSpec, IReadOnlyDictionary<string, int> replicas, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var own = await db.Reservations.Where(r => r.ClusterId == row.Id).ToListAsync(ct);
            var admitted = row.AdmittedReplicasJson is not null;
            var held = ReservedBy(own.Where(r => r.Granted));
            var demand = catalogs.Demand(runSpec, replicas);
            var capacities = await CapacitiesAsync(db, row.WorkspaceId, ct);
            var used = await UsedAsync(db, row.WorkspaceId, row.Id, ct);

            var growing = demand.ByQueue.Where(kv => kv.Value.Cu > held.For(kv.Key).Cu || kv.Value.Gpu > held.For(kv.Key).Gpu)
                .Select(kv => kv.Key).ToList();
            var ahead = new QueueDemand();
            if (growing.Count > 0)
            {
                // Everyone still waiting is ahead of a running cluster's scale-up; for a waiting cluster, those who asked earlier.
                var waiting = db.Reservations.Where(r => r.WorkspaceId == row.WorkspaceId && !r.Granted && r.ClusterId != row.Id && growing.Contains(r.QueueName));
                if (!admitted)
                    waiting = waiting.Where(r => r.QueuedAt < row.QueuedAt || (r.QueuedAt == row.QueuedAt && string.Compare(r.ClusterId, row.Id) < 0));
                ahead = await SumAsync(waiting, ct);
            }

            var decision = QueueAdmission.Decide(demand, capacities, used, ahead);
            if (decision.Admitted)
            {
                db.Reservations.RemoveRange(own);
                db.Reservations.AddRange(Requests(row, demand).Select(r =>
                {
                    r.Granted = true;
                    return r;
                }));
                row.AdmittedReplicasJson = JsonSerializer.Serialize(replicas);
                await db.SaveChangesAsync(ct);
            }
            else if (!admitted && !SameRequest(own, demand, row.QueuedAt))
            {
                db.Reservations.RemoveRange(own);
                db.Reservations.AddRange(Requests(row, demand));
            }
            return decision;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static bool SameRequest(List<ReservationRow> own, QueueDemand demand, long queuedAt) =>
        own.Count == demand.ByQueue.Count
        && own.All(r => !r.Granted && r.QueuedAt == queuedAt && demand.ByQueue.TryGetValue(r.QueueName, out var d)
                        && r.MilliCu == (long)decimal.Ceiling(d.Cu * 1000m) && r.Gpu == d.Gpu);

    /// <summary>Clusters of the workspace that want to run and wait for admission, first come first.</summary>
    public static async Task<IReadOnlyList<string>> WaitingAsync(RayfleetDbContext db, string workspaceId, CancellationToken ct) =>
        await db.Clusters.AsNoTracking()
            .Where(c => c.WorkspaceId == workspaceId && c.DesiredRunning && !c.Deleted && c.AdmittedReplicasJson == null)
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
