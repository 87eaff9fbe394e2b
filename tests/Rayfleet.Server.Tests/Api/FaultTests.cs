using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>The two codes no well-formed request can cause by itself, caused by faults injected into the store.</summary>
public sealed class FaultTests
{
    /// <summary>Runs <paramref name="sql"/> on the host's store (a trigger that injects a fault into the store itself).</summary>
    private static async Task ExecuteAsync(RayfleetHost host, string sql)
    {
        await using var scope = host.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<RayfleetDbContext>().Database.ExecuteSqlRawAsync(sql);
    }

    [Fact]
    public async Task A_write_that_keeps_losing_the_version_race_is_ConcurrentModification_and_changes_nothing()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "c", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForQuietAsync();
        // Every write of the contended change finds the row gone from under it, as when another writer keeps winning:
        // the update affects no row, whichever path (EF's save or a prepared statement) sends it.
        await ExecuteAsync(host, """
            CREATE TRIGGER "contended" BEFORE UPDATE ON "clusters" WHEN NEW."SpecJson" LIKE '%contended%'
            BEGIN SELECT RAISE(IGNORE); END
            """);
        var writer = host.Services.GetRequiredService<StoreWriter>();
        var failedBefore = writer.FailedUnits;

        var response = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { description = "contended" });
        Assert.Equal(HttpStatusCode.Conflict, response.Status);
        Assert.Equal("ConcurrentModification", response.Code);
        Assert.True(writer.FailedUnits - failedBefore >= 4, "the update is retried before it gives up");
        Assert.Null((await api.GetClusterAsync(ws, id))["description"]); // JSON null: the change never landed
        Assert.DoesNotContain(await host.AuditRowsAsync(), a => a.RequestId == response.Headers.GetValues("x-acs-request-id").Single());
    }

    [Fact]
    public async Task A_bug_is_InternalError_500_with_the_request_id_and_no_half_written_state()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        // The last row of the create fails in the store itself, after the cluster and its demand rows went in: the
        // unit's statements must all be undone, whichever path (EF's save or a prepared insert) wrote them.
        await ExecuteAsync(host, """
            CREATE TRIGGER "explode" BEFORE INSERT ON "audit_log"
            WHEN NEW."Action" LIKE '%CreateRayCluster' AND EXISTS (SELECT 1 FROM "clusters" WHERE "Name" = 'explode')
            BEGIN SELECT RAISE(ABORT, 'simulated bug'); END
            """);

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
