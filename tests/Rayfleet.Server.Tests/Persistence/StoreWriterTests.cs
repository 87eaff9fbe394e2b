using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Persistence;

/// <summary>The store's one writer: group commit, a unit that fails fails alone, a commit that fails fails them all.</summary>
public sealed class StoreWriterTests
{
    private static AuditRow Audit(string action) => new() { Time = 1, Action = action, Outcome = "Success", Status = 200, RequestId = action };

    private static async Task<List<string>> ActionsAsync(RayfleetHost host, string prefix)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        return await db.Audit.AsNoTracking().Where(a => a.Action.StartsWith(prefix)).OrderBy(a => a.Action).Select(a => a.Action).ToListAsync();
    }

    private static Task<bool> AddAsync(StoreWriter writer, string action) =>
        writer.WriteAsync(async db =>
        {
            db.Audit.Add(Audit(action));
            await db.SaveChangesAsync();
            return true;
        });

    /// <summary>A unit that keeps the writer busy until <paramref name="release"/>: what is queued meanwhile forms the next batch.</summary>
    private static async Task<Task<bool>> HoldAsync(StoreWriter writer, Task release)
    {
        var entered = new TaskCompletionSource();
        var holder = writer.WriteAsync(async _ =>
        {
            entered.SetResult();
            await release;
            return true;
        });
        await entered.Task;
        return holder;
    }

    [Fact]
    public async Task Units_that_arrive_while_a_commit_is_in_flight_share_the_next_commit()
    {
        using var host = new RayfleetHost();
        var writer = host.Services.GetRequiredService<StoreWriter>();
        await AddAsync(writer, "warm-up");
        var before = writer.Counts;

        // The first unit holds the writer; ten more queue up behind it meanwhile.
        var release = new TaskCompletionSource();
        var entered = new TaskCompletionSource();
        var first = writer.WriteAsync(async db =>
        {
            entered.SetResult();
            await release.Task;
            db.Audit.Add(Audit("batch-00"));
            await db.SaveChangesAsync();
            return true;
        });
        await entered.Task;
        var queued = Enumerable.Range(1, 10).Select(i => AddAsync(writer, $"batch-{i:00}")).ToList();
        release.SetResult();
        await first;
        await Task.WhenAll(queued);

        var after = writer.Counts;
        Assert.Equal(11, after.Units - before.Units);
        Assert.Equal(2, after.Commits - before.Commits);
        Assert.Equal(11, (await ActionsAsync(host, "batch-")).Count);
    }

    [Fact]
    public async Task A_unit_that_fails_is_rolled_back_alone_and_the_others_of_its_batch_commit()
    {
        using var host = new RayfleetHost();
        var writer = host.Services.GetRequiredService<StoreWriter>();
        var release = new TaskCompletionSource();
        var holder = await HoldAsync(writer, release.Task);
        var before = AddAsync(writer, "alone-before");
        var failing = writer.WriteAsync<bool>(async db =>
        {
            db.Audit.Add(Audit("alone-failed"));
            await db.SaveChangesAsync(); // written inside the unit's savepoint...
            throw new InvalidOperationException("the unit fails after it wrote");
        });
        var after = AddAsync(writer, "alone-after");
        release.SetResult();

        await holder;
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.True(await before);
        Assert.True(await after);
        // ...and rolled back to it: nothing of the failed unit is in the store, everything of the others is.
        Assert.Equal(["alone-after", "alone-before"], await ActionsAsync(host, "alone-"));
    }

    /// <summary>Fails the next commit once armed.</summary>
    private sealed class FailingCommit : DbTransactionInterceptor
    {
        public volatile bool Armed;

        public override ValueTask<InterceptionResult> TransactionCommittingAsync(
            DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (Armed)
            {
                Armed = false;
                throw new IOException("disk gone at commit");
            }
            return ValueTask.FromResult(result);
        }
    }

    [Fact]
    public async Task A_commit_that_fails_fails_every_unit_of_its_batch_and_the_writer_goes_on_with_the_next()
    {
        var failing = new FailingCommit();
        using var host = new RayfleetHost(services: s => s.AddSingleton<IInterceptor>(failing));
        var writer = host.Services.GetRequiredService<StoreWriter>();
        await AddAsync(writer, "ok-warm-up");

        var release = new TaskCompletionSource();
        var holder = await HoldAsync(writer, release.Task);
        var lost = Enumerable.Range(1, 3).Select(i => AddAsync(writer, $"lost-{i}")).ToList();
        failing.Armed = true; // the commit of the batch that holds the holder: one batch, nothing else
        release.SetResult();
        await Assert.ThrowsAsync<IOException>(() => holder);
        foreach (var unit in lost)
        {
            // Either in the failed batch (told it failed) or in the next one (committed): never told "done" wrongly.
            try
            {
                await unit;
            }
            catch (IOException)
            {
            }
        }

        Assert.True(await AddAsync(writer, "ok-after"));
        var stored = await ActionsAsync(host, "");
        Assert.Contains("ok-after", stored);
        foreach (var (unit, i) in lost.Select((u, i) => (u, i + 1)))
            Assert.Equal(unit.IsCompletedSuccessfully, stored.Contains($"lost-{i}"));
    }

    [Fact]
    public async Task A_save_that_loses_an_optimistic_check_throws_the_concurrency_exception_and_writes_nothing()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        // Settled, so that only this test writes the row.
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Running"));
        await api.WaitForQuietAsync();

        await using var first = host.Services.CreateAsyncScope();
        await using var second = host.Services.CreateAsyncScope();
        var a = first.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var b = second.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var rowA = await a.Clusters.SingleAsync(c => c.Id == id);
        var rowB = await b.Clusters.SingleAsync(c => c.Id == id);
        rowA.Name = "first";
        rowB.Name = "second";
        await a.SaveChangesAsync();
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => b.SaveChangesAsync());

        await using var check = host.Services.CreateAsyncScope();
        var stored = await check.ServiceProvider.GetRequiredService<RayfleetDbContext>().Clusters.AsNoTracking().SingleAsync(c => c.Id == id);
        Assert.Equal("first", stored.Name);
        // The winner's context took its save as done: a second change of the same row applies on top of it.
        rowA.Name = "first again";
        await a.SaveChangesAsync();
    }
}
