using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>
/// The totals of ListRayCluster and ListRayJob are kept by the store (issue 11), not counted per call: they must stay
/// equal to a count of the rows through every path that adds, tombstones or removes one.
/// </summary>
public sealed class ListTotalsTests
{
    private static async Task<(long Kept, long LiveRows, long Jobs, long JobRows)> TotalsAsync(RayfleetHost host, string ws)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var kept = await db.WorkspaceTotals.AsNoTracking().SingleOrDefaultAsync(t => t.WorkspaceId == ws);
        return (kept?.LiveClusters ?? 0, await db.Clusters.LongCountAsync(c => c.WorkspaceId == ws && !c.Deleted),
            kept?.Jobs ?? 0, await db.Jobs.LongCountAsync(j => j.WorkspaceId == ws));
    }

    [Fact]
    public async Task The_kept_cluster_total_equals_the_live_rows_through_create_delete_and_removal()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        Assert.Equal((0L, 0L), ((await TotalsAsync(host, ws)).Kept, (await TotalsAsync(host, ws)).LiveRows));

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(1)); // List is newest first; the fake clock stands still otherwise
            ids.Add(await api.CreateClusterAsync(ws, Bodies.Minimal($"t{i}")));
        }
        var afterCreate = await TotalsAsync(host, ws);
        Assert.Equal((3L, 3L), (afterCreate.Kept, afterCreate.LiveRows));

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{ids[1]}")).EnsureOk();
        // The tombstone leaves the total at once, in the transaction that writes it.
        var afterDelete = await TotalsAsync(host, ws);
        Assert.Equal((2L, 2L), (afterDelete.Kept, afterDelete.LiveRows));
        Assert.Equal(2, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).EnsureOk().Json["totalCount"]!.GetValue<int>());

        // The reconciler removes the tombstoned row: the total does not count it twice.
        await Eventually.HoldsAsync(host, async () => !await host.Services.ClusterRowExistsAsync(ids[1]));
        var afterRemoval = await TotalsAsync(host, ws);
        Assert.Equal((2L, 2L), (afterRemoval.Kept, afterRemoval.LiveRows));
        var list = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster?pageNum=2&pageSize=1")).EnsureOk().Json;
        Assert.Equal(2, list["totalCount"]!.GetValue<int>());
        Assert.Equal(ids[0], Assert.Single(list["rayClusters"]!.AsArray())!["clusterId"]!.GetValue<string>());
    }
}
