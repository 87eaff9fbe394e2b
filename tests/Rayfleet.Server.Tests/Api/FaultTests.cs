using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>The two codes no well-formed request can cause by itself, caused by faults injected into the store.</summary>
public sealed class FaultTests
{
    /// <summary>Fails every save that carries a cluster row matching <paramref name="match"/>.</summary>
    private sealed class FailingSaves(Func<ClusterRow, EntityState, bool> match, Func<Exception> fault) : SaveChangesInterceptor
    {
        public int Failures;

        public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            if (eventData.Context!.ChangeTracker.Entries<ClusterRow>().Any(e => match(e.Entity, e.State)))
            {
                Interlocked.Increment(ref Failures);
                throw fault();
            }
            return base.SavingChangesAsync(eventData, result, cancellationToken);
        }
    }

    [Fact]
    public async Task A_write_that_keeps_losing_the_version_race_is_ConcurrentModification_and_changes_nothing()
    {
        var interceptor = new FailingSaves(
            (row, state) => state == EntityState.Modified && row.SpecJson.Contains("contended", StringComparison.Ordinal),
            () => new DbUpdateConcurrencyException("simulated lost race"));
        using var host = new RayfleetHost(services: s => s.AddSingleton<IInterceptor>(interceptor));
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "c", headSpec = new { cpu = "1", memory = "4Gi" } });

        var response = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { description = "contended" });
        Assert.Equal(HttpStatusCode.Conflict, response.Status);
        Assert.Equal("ConcurrentModification", response.Code);
        Assert.True(interceptor.Failures >= 4, "the update is retried before it gives up");
        Assert.Null((await api.GetClusterAsync(ws, id))["description"]); // JSON null: the change never landed
        Assert.DoesNotContain(await host.AuditRowsAsync(), a => a.RequestId == response.Headers.GetValues("x-acs-request-id").Single());
    }

    [Fact]
    public async Task A_bug_is_InternalError_500_with_the_request_id_and_no_half_written_state()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        await using (var setup = host.Services.CreateAsyncScope())
        {
            // The last row of the create fails in the store itself, after the cluster and its demand rows went in: the
            // unit's statements must all be undone, whichever path (EF's save or a prepared insert) wrote them.
            await setup.ServiceProvider.GetRequiredService<RayfleetDbContext>().Database.ExecuteSqlRawAsync("""
                CREATE TRIGGER "explode" BEFORE INSERT ON "audit_log"
                WHEN NEW."Action" LIKE '%CreateRayCluster' AND EXISTS (SELECT 1 FROM "clusters" WHERE "Name" = 'explode')
                BEGIN SELECT RAISE(ABORT, 'simulated bug'); END
                """);
        }

        var response = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", new { name = "explode", headSpec = new { cpu = "1", memory = "4Gi" } });
        Assert.Equal(HttpStatusCode.InternalServerError, response.Status);
        Assert.Equal("InternalError", response.Code);
        var requestId = response.Headers.GetValues("x-acs-request-id").Single();
        Assert.Equal(requestId, response.Json["RequestId"]!.GetValue<string>());
        Assert.Contains(requestId, response.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("simulated bug", response.Body, StringComparison.Ordinal); // internals stay in the log
        Assert.Equal(0, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).Json["totalCount"]!.GetValue<int>());

        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        Assert.Equal(0, await db.Clusters.IgnoreQueryFilters().CountAsync());
        Assert.Equal(0, await db.Demands.CountAsync());
        Assert.Equal(0, await db.Reservations.CountAsync());

        // The same store takes the next create: the failure was the unit's alone.
        await api.CreateClusterAsync(ws, new { name = "fine", headSpec = new { cpu = "1", memory = "4Gi" } });
        Assert.Equal(1, await db.Clusters.CountAsync());
    }
}
