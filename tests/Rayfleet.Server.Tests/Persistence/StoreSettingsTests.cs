using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Persistence;

public sealed class StoreSettingsTests
{
    [Fact]
    public async Task The_store_is_SQLite_in_WAL_mode_with_a_full_fsync_on_commit_in_the_data_folder()
    {
        using var host = new RayfleetHost();
        host.StartServerIfNeeded();
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        await db.Database.OpenConnectionAsync();
        await using var command = db.Database.GetDbConnection().CreateCommand();

        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA synchronous;";
        Assert.Equal(2L, (long?)await command.ExecuteScalarAsync()); // FULL: a commit is on disk before it returns
        Assert.True(File.Exists(Path.Combine(host.DataDirectory, "rayfleet.db")));
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
    }
}
