using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Hosting;

/// <summary>
/// The explicit startup step: applies migrations, switches SQLite to WAL and seeds the <c>default</c> workspace on an
/// empty store. Registered before every other hosted service, so nothing reads the store before it is ready.
/// </summary>
public sealed partial class DatabaseInitializer(
    IServiceScopeFactory scopes, IOptions<RayfleetOptions> options, TimeProvider time, ILogger<DatabaseInitializer> logger) : IHostedService
{
    public bool Ready { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        await db.Database.MigrateAsync(cancellationToken);
        if (db.Database.IsSqlite())
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);

        if (!await db.Workspaces.AnyAsync(cancellationToken))
        {
            var o = options.Value;
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var id = Ids.Workspace();
            db.Workspaces.Add(new WorkspaceRow
            {
                Id = id, Name = "default", Provider = o.DefaultProvider, RegionId = o.RegionId,
                ResourceSpec = Core.Capacity.Quantity.FormatCu(o.DefaultQueueCu) + "cu", CreateTime = now,
            });
            db.Queues.Add(new QueueRow
            {
                WorkspaceId = id, Name = ClusterRules.DefaultQueue, Cu = o.DefaultQueueCu, Gpu = o.DefaultQueueGpu,
                Category = o.DefaultQueueGpu > 0 ? "GPU" : "CPU", CreateTime = now,
            });
            await db.SaveChangesAsync(cancellationToken);
            LogSeeded(logger, id, o.DefaultQueueCu);
        }
        Ready = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Created workspace 'default' ({WorkspaceId}) with root_queue of {Cu} CU")]
    private static partial void LogSeeded(ILogger logger, string workspaceId, decimal cu);
}

/// <summary>Per-connection SQLite settings: full fsync on commit (acknowledged means durable) and a busy timeout.</summary>
public sealed class SqlitePragmas : DbConnectionInterceptor
{
    public const string Statement = "PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Statement;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Statement;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
