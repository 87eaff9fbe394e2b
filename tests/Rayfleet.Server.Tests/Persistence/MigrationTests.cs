using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Persistence;

public sealed class MigrationTests
{
    [Fact]
    public async Task A_store_of_the_first_release_keeps_its_clusters_grants_and_place_in_line()
    {
        var directory = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var options = new DbContextOptionsBuilder<RayfleetDbContext>()
                .UseSqlite($"Data Source={Path.Combine(directory, "rayfleet.db")};Pooling=False").Options;
            await using (var db = new RayfleetDbContext(options))
            {
                await db.GetService<IMigrator>().MigrateAsync("20261126010553_Initial");
                const string columns = "Id, WorkspaceId, Provider, Name, SpecJson, Generation, RunSpecJson, AdmittedReplicasJson, DesiredRunning, " +
                                       "Deleted, State, Message, InstanceId, Modified, CreateTime, StartTime, ModifiedTime, QueuedAt, NodesJson, SubmitToken, Version";
                // Braces doubled: raw SQL is a format string.
                await db.Database.ExecuteSqlRawAsync(
                    $"INSERT INTO clusters ({columns}) VALUES " +
                    "('rc-run', 'w-1', 'simulated', 'run', '{{\"Name\":\"run\"}}', 3, '{{\"Name\":\"run\"}}', '{{}}', 1, 0, 'Running', 'up', 'rc-run-2', 0, 1, 1, 1, 1, '[]', 't', 7), " +
                    "('rc-wait', 'w-1', 'simulated', 'wait', '{{\"Name\":\"wait\"}}', 1, '{{\"Name\":\"wait\"}}', NULL, 1, 0, 'Starting', 'waits', 'rc-wait-1', 0, 2, 2, 2, 2, '[]', 't', 1), " +
                    "('rc-off', 'w-1', 'simulated', 'off', '{{\"Name\":\"off\"}}', 2, NULL, NULL, 0, 0, 'Stopped', NULL, 'rc-off-1', 0, 3, 3, 3, 3, '[]', 't', 2);");
                await db.Database.ExecuteSqlRawAsync(
                    "INSERT INTO reservations (ClusterId, WorkspaceId, QueueName, MilliCpu, MemoryBytes, MilliCu, Gpu, Granted, QueuedAt) VALUES " +
                    "('rc-run', 'w-1', 'root_queue', 2000, 8589934592, 2000, 0, 1, 1), " +
                    "('rc-wait', 'w-1', 'root_queue', 4000, 17179869184, 4000, 1, 0, 2);");

                await db.Database.MigrateAsync();
            }

            await using (var db = new RayfleetDbContext(options))
            {
                var grant = Assert.Single(await db.Reservations.ToListAsync());
                Assert.Equal(("rc-run", 2000L), (grant.ClusterId, grant.MilliCu));
                var demand = Assert.Single(await db.Demands.ToListAsync());
                Assert.Equal(("rc-wait", "root_queue", 4000L, 1), (demand.ClusterId, demand.QueueName, demand.MilliCu, demand.Gpu));

                var rows = await db.Clusters.AsNoTracking().ToDictionaryAsync(c => c.Id);
                // Every status was the one of its row's generation and instance; a stopped cluster runs none.
                Assert.Equal((3L, "rc-run-2"), (rows["rc-run"].ObservedGeneration, rows["rc-run"].ObservedInstanceId));
                Assert.Equal((1L, "rc-wait-1"), (rows["rc-wait"].ObservedGeneration, rows["rc-wait"].ObservedInstanceId));
                Assert.Equal((2L, (string?)null), (rows["rc-off"].ObservedGeneration, rows["rc-off"].ObservedInstanceId));
                Assert.All(rows.Values, r => Assert.Equal(r.SpecJson, r.ListSpecJson));
                // The List totals start from the rows already stored.
                var totals = Assert.Single(await db.WorkspaceTotals.ToListAsync());
                Assert.Equal(("w-1", 3L, 0L), (totals.WorkspaceId, totals.LiveClusters, totals.Jobs));
                Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            }
        }
        finally
        {
            RayfleetHost.TryDelete(directory);
        }
    }
}
