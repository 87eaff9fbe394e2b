using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Hosting;

/// <summary>
/// The explicit startup step: applies migrations, switches SQLite to WAL and seeds the <c>default</c> workspace on an
/// empty store. Registered before every other hosted service, so nothing reads the store before it is ready.
/// </summary>
public sealed partial class DatabaseInitializer(
    IServiceScopeFactory scopes, IOptions<RayfleetOptions> options, IMachineCapacity machine, TimeProvider time,
    ILogger<DatabaseInitializer> logger) : IHostedService
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
            var (cu, gpu) = DefaultQueueCapacity(o, machine);
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var id = Ids.Workspace();
            db.Workspaces.Add(new WorkspaceRow
            {
                Id = id, Name = "default", Provider = o.DefaultProvider, RegionId = o.RegionId,
                ResourceSpec = Core.Capacity.Quantity.FormatCu(cu) + "cu", CreateTime = now,
            });
            db.Queues.Add(new QueueRow
            {
                WorkspaceId = id, Name = ClusterRules.DefaultQueue, Cu = cu, Gpu = gpu,
                Category = gpu > 0 ? "GPU" : "CPU", CreateTime = now,
            });
            await db.SaveChangesAsync(cancellationToken);
            LogSeeded(logger, id, o.DefaultProvider, cu, gpu);
        }
        Ready = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// What is configured; else, with the local provider as the default, what this machine has (its clusters all run
    /// here); else the fixed fallback.
    /// </summary>
    public static (decimal Cu, int Gpu) DefaultQueueCapacity(RayfleetOptions o, IMachineCapacity machine)
    {
        var local = o.DefaultProvider == ProviderNames.Local;
        return (o.DefaultQueueCu ?? (local ? machine.QueueCu() : RayfleetOptions.FallbackQueueCu),
                o.DefaultQueueGpu ?? (local ? machine.Gpus : RayfleetOptions.FallbackQueueGpu));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created workspace 'default' ({WorkspaceId}, provider {Provider}) with root_queue of {Cu} CU and {Gpu} GPU(s)")]
    private static partial void LogSeeded(ILogger logger, string workspaceId, string provider, decimal cu, int gpu);
}

/// <summary>
/// Per-connection SQLite settings: full fsync on commit (acknowledged means durable), a busy timeout, foreign keys. They
/// belong to the native connection, which the pool keeps open between uses, so they are set once per native connection
/// rather than on every open (an open from the pool is then one call, not two).
/// </summary>
public sealed class SqlitePragmas : DbConnectionInterceptor
{
    public const string Statement = "PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> Configured = new();

    private static bool IsConfigured(DbConnection connection) =>
        connection is Microsoft.Data.Sqlite.SqliteConnection { Handle: { } handle } && Configured.TryGetValue(handle, out _);

    private static void Remember(DbConnection connection)
    {
        if (connection is Microsoft.Data.Sqlite.SqliteConnection { Handle: { } handle }) Configured.TryAdd(handle, handle);
    }

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (IsConfigured(connection)) return;
        using var command = connection.CreateCommand();
        command.CommandText = Statement;
        command.ExecuteNonQuery();
        Remember(connection);
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (IsConfigured(connection)) return;
        await using var command = connection.CreateCommand();
        command.CommandText = Statement;
        await command.ExecuteNonQueryAsync(cancellationToken);
        Remember(connection);
    }
}
