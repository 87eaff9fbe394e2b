using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Reconciler;

/// <summary>
/// A first grant lets the next admission decision in before it is committed: until its lease ends it counts as held,
/// so decisions that overlap commits still never over-admit, and one that is not committed gives its capacity back.
/// </summary>
public sealed class AdmissionInFlightTests
{
    private sealed record Decision(RayfleetDbContext Db, ClusterRow Row, AdmissionLease Lease, IServiceScope Scope);

    private static async Task<Decision> DecideAsync(RayfleetHost host, string clusterId)
    {
        var scope = host.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var row = await db.Clusters.SingleAsync(c => c.Id == clusterId);
        var spec = ClusterSpec.FromJson(row.SpecJson);
        var lease = await host.Services.GetRequiredService<QueueAdmissionService>()
            .DecideAsync(db, row, spec, new Dictionary<string, int> { ["w"] = 1 }, CancellationToken.None);
        return new Decision(db, row, lease, scope);
    }

    private static async Task CommitAsync(Decision d)
    {
        await d.Db.SaveChangesAsync();
        d.Lease.Committed();
        d.Lease.Dispose();
        d.Scope.Dispose();
    }

    private static void Abandon(Decision d)
    {
        d.Lease.Dispose();
        d.Scope.Dispose();
    }

    [Fact]
    public async Task Grants_in_flight_count_as_held_and_one_never_committed_frees_its_capacity()
    {
        // Nothing reconciles on its own: the test makes every decision.
        using var host = new RayfleetHost(settings: new Dictionary<string, string?> { ["Rayfleet:Reconciler:Enabled"] = "false" });
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.PostAsync("/api/v1/workspaces/queues", new { workspaceId = ws, workspaceQueueName = "small", resourceSpec = new { cu = 10 } })).EnsureOk();
        // In line a, b, c: each asks a moment after the one before.
        var a = await api.CreateClusterAsync(ws, AdmissionTests.FourCu("a"));
        host.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var b = await api.CreateClusterAsync(ws, AdmissionTests.FourCu("b"));
        host.Clock.Advance(TimeSpan.FromMilliseconds(1));
        var c = await api.CreateClusterAsync(ws, AdmissionTests.FourCu("c"));

        // a and b are granted one after the other, neither committed yet: 8 of 10 CU in flight, so c does not fit.
        var first = await DecideAsync(host, a);
        Assert.True(first.Lease.Decision.Admitted, first.Lease.Decision.Message);
        var second = await DecideAsync(host, b);
        Assert.True(second.Lease.Decision.Admitted);
        var third = await DecideAsync(host, c);
        Assert.False(third.Lease.Decision.Admitted);
        Abandon(third);

        // b's save never happens (a crash of its pass): its 4 CU are free again, and b, first in line, gets them.
        Abandon(second);
        var again = await DecideAsync(host, b);
        Assert.True(again.Lease.Decision.Admitted);
        await CommitAsync(again);

        // Committed b and in-flight a hold 8 CU: still no room for c, and none once a commits either.
        var stillNot = await DecideAsync(host, c);
        Assert.False(stillNot.Lease.Decision.Admitted);
        Abandon(stillNot);
        await CommitAsync(first);
        var never = await DecideAsync(host, c);
        Assert.False(never.Lease.Decision.Admitted);
        Abandon(never);

        await using var check = host.Services.CreateAsyncScope();
        var store = check.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        Assert.Equal(8000, await store.Reservations.Where(r => r.QueueName == "small").SumAsync(r => r.MilliCu));
        Assert.Equal(2, await store.Clusters.CountAsync(x => x.AdmittedReplicasJson != null));
    }
}
