using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Persistence;

/// <summary>Rows that the store writer inserts and updates through its prepared statements are the rows EF's own save writes.</summary>
public sealed class PreparedWriteTests
{
    private static ClusterRow Cluster(string id) => new()
    {
        Id = id,
        WorkspaceId = "w-plan",
        Provider = "simulated",
        Name = "plan",
        SpecJson = "{\"name\":\"plan\"}",
        ListSpecJson = "{}",
        Generation = 3,
        DesiredRunning = true,
        CreateTime = 1_700_000_000_123,
        StartTime = null,
        ModifiedTime = 1_700_000_000_456,
        SubmitToken = "token",
        Creator = "p-1",
        Message = "with 'quotes' and ünïcode",
        UsageCuMs = 12.345m,
        UsageCuRate = 0.000000001m,
        UsageGpuRate = null,
        Modified = true,
    };

    [Fact]
    public void A_cluster_row_takes_the_prepared_path_and_a_workspace_row_does_not()
    {
        using var host = new RayfleetHost();
        using var scope = host.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        Assert.True(db.PreparedWrites); // no interceptor of a test's here: the other tests of this class run the prepared path
        Assert.NotNull(InsertPlan.For(db.Model.FindEntityType(typeof(ClusterRow))!));
        Assert.NotNull(InsertPlan.For(db.Model.FindEntityType(typeof(AuditRow))!));
        // Its changes must pass the workspace cache's interceptor.
        Assert.Null(InsertPlan.For(db.Model.FindEntityType(typeof(WorkspaceRow))!));
    }

    [Fact]
    public async Task Every_column_is_stored_as_EF_stores_it()
    {
        using var host = new RayfleetHost();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            db.Clusters.Add(Cluster("c-prepared"));
            await db.SaveChangesAsync(); // through the writer
        }
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Clusters.Add(Cluster("c-ef"));
            await db.SaveChangesAsync(); // a context with its own transaction saves through EF directly
            await transaction.CommitAsync();
        }

        await AssertStoredAlikeAsync(host, "c-ef", "c-prepared");
    }

    /// <summary>Every column of the two cluster rows but the key, as SQL literals (<c>quote()</c>: type and text).</summary>
    private static async Task AssertStoredAlikeAsync(RayfleetHost host, string expectedId, string actualId)
    {
        await using var check = host.Services.CreateAsyncScope();
        var store = check.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var connection = (SqliteConnection)store.Database.GetDbConnection();
        await store.Database.OpenConnectionAsync();
        var columns = store.Model.FindEntityType(typeof(ClusterRow))!.GetProperties().Select(p => p.GetColumnName()).Where(c => c != "Id").ToList();
        async Task<List<string>> LiteralsAsync(string id)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {string.Join(", ", columns.Select(c => $"quote(\"{c}\")"))} FROM \"clusters\" WHERE \"Id\" = $id";
            command.Parameters.AddWithValue("$id", id);
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            return [.. Enumerable.Range(0, columns.Count).Select(i => $"{columns[i]}={reader.GetString(i)}")];
        }
        Assert.Equal(await LiteralsAsync(expectedId), await LiteralsAsync(actualId));
    }

    private static void Change(ClusterRow row)
    {
        row.State = "Running";
        row.Message = null;
        row.UsageCuMs = 99.5m;
        row.UsageGpuRate = 0.25m;
        row.StartTime = 1_700_000_009_000;
        row.Modified = false;
    }

    [Fact]
    public async Task A_changed_row_is_stored_as_EF_stores_it_and_its_version_moves_up()
    {
        using var host = new RayfleetHost();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            db.Clusters.AddRange(Cluster("c-ef"), Cluster("c-prepared"));
            await db.SaveChangesAsync();
        }
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            var row = await db.Clusters.SingleAsync(c => c.Id == "c-prepared");
            Change(row);
            await db.SaveChangesAsync(); // through the writer
            Assert.Equal(1, row.Version);
        }
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            Change(await db.Clusters.SingleAsync(c => c.Id == "c-ef"));
            await db.SaveChangesAsync(); // EF's own save
            await transaction.CommitAsync();
        }
        await AssertStoredAlikeAsync(host, "c-ef", "c-prepared");
    }

    [Fact]
    public async Task A_change_to_a_row_read_before_another_writer_changed_it_fails_and_writes_nothing()
    {
        using var host = new RayfleetHost();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
            db.Clusters.Add(Cluster("c-race"));
            await db.SaveChangesAsync();
        }
        await using var firstScope = host.Services.CreateAsyncScope();
        await using var secondScope = host.Services.CreateAsyncScope();
        var first = await firstScope.ServiceProvider.GetRequiredService<RayfleetDbContext>().Clusters.SingleAsync(c => c.Id == "c-race");
        var second = await secondScope.ServiceProvider.GetRequiredService<RayfleetDbContext>().Clusters.SingleAsync(c => c.Id == "c-race");

        first.Message = "first";
        await firstScope.ServiceProvider.GetRequiredService<RayfleetDbContext>().SaveChangesAsync();
        second.Message = "second";
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => secondScope.ServiceProvider.GetRequiredService<RayfleetDbContext>().SaveChangesAsync());

        await using var check = host.Services.CreateAsyncScope();
        var stored = await check.ServiceProvider.GetRequiredService<RayfleetDbContext>().Clusters.AsNoTracking().SingleAsync(c => c.Id == "c-race");
        Assert.Equal("first", stored.Message);
        Assert.Equal(1, stored.Version);
    }

    [Fact]
    public async Task A_generated_key_comes_back_to_the_entity_as_from_EF()
    {
        using var host = new RayfleetHost();
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var first = new AuditRow { Time = 1, Action = "plan-1", Outcome = "Success", Status = 200, RequestId = "r1" };
        var second = new AuditRow { Time = 2, Action = "plan-2", Outcome = "Success", Status = 200, RequestId = "r2" };
        db.Audit.Add(first);
        await db.SaveChangesAsync();
        // A second new row in the same context: the first one's key must be its real one, or the two would collide.
        db.Audit.Add(second);
        await db.SaveChangesAsync();

        Assert.True(first.Id > 0);
        Assert.True(second.Id > first.Id);
        Assert.Equal(EntityState.Unchanged, db.Entry(second).State);
        var stored = await db.Audit.AsNoTracking().Where(a => a.Action.StartsWith("plan-")).OrderBy(a => a.Id).Select(a => a.Id).ToListAsync();
        Assert.Equal([first.Id, second.Id], stored);
    }
}
