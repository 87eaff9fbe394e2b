using System.Diagnostics;
using System.Text;
using Microsoft.Data.Sqlite;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Bench;

/// <summary>
/// What the store alone can do: one row per transaction straight into SQLite with the service's settings (WAL, the
/// per-connection <see cref="SqlitePragmas.Statement"/>, the same connection string options), N writers each on its own
/// connection, contention left to busy_timeout.
/// </summary>
public static class SqliteBaseline
{
    public static async Task<LatencySummary> RunAsync(string databasePath, int payloadBytes, int concurrency, Window window)
    {
        var connectionString = $"Data Source={databasePath};Cache=Private;Pooling=True";
        await using (var setup = new SqliteConnection(connectionString))
        {
            await setup.OpenAsync();
            await ExecuteAsync(setup, "PRAGMA journal_mode=WAL;");
            await ExecuteAsync(setup, SqlitePragmas.Statement);
            await ExecuteAsync(setup, "CREATE TABLE rows (id TEXT NOT NULL PRIMARY KEY, workspace_id TEXT NOT NULL, payload TEXT NOT NULL);");
        }

        // Each writer blocks in SQLite (commit fsync, busy waits) the way a connection does: give each its own thread.
        var payload = new string('x', payloadBytes);
        var writers = Enumerable.Range(0, concurrency)
            .Select(_ => Task.Factory.StartNew(() => Write(connectionString, payload, window), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
        var logs = await Task.WhenAll(writers);
        SqliteConnection.ClearAllPools();
        return LatencyLog.Summarize(logs, window.Duration);
    }

    private static LatencyLog Write(string connectionString, string payload, Window window)
    {
        var log = new LatencyLog();
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using (var pragmas = connection.CreateCommand())
        {
            pragmas.CommandText = SqlitePragmas.Statement;
            pragmas.ExecuteNonQuery();
        }
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO rows (id, workspace_id, payload) VALUES ($id, $ws, $payload);";
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        insert.Parameters.AddWithValue("$ws", "w-0123456789abcdef");
        insert.Parameters.AddWithValue("$payload", payload);
        insert.Prepare();

        while (window.IsOpen)
        {
            var started = Stopwatch.GetTimestamp();
            using (var transaction = connection.BeginTransaction())
            {
                insert.Transaction = transaction;
                id.Value = Ids.Cluster();
                insert.ExecuteNonQuery();
                transaction.Commit();
            }
            var finished = Stopwatch.GetTimestamp();
            if (window.Counts(started, finished)) log.Add(finished - started);
        }
        return log;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>The stored size of the service's cluster rows: per row, the sum of its column values' byte lengths.</summary>
public static class ClusterRowSize
{
    public static async Task<RowSizeResult> MeasureAsync(string databasePath)
    {
        await using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM clusters;";
        var sizes = new List<int>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var size = 0;
                for (var i = 0; i < reader.FieldCount; i++)
                    size += reader.IsDBNull(i) ? 0 : reader.GetValue(i) switch
                    {
                        string s => Encoding.UTF8.GetByteCount(s),
                        byte[] b => b.Length,
                        _ => 8, // INTEGER and REAL
                    };
                sizes.Add(size);
            }
        }
        if (sizes.Count == 0) throw new BenchFailedException("The service's store holds no cluster row to size the baseline row on.");
        sizes.Sort();
        return new RowSizeResult { Rows = sizes.Count, MinBytes = sizes[0], MedianBytes = sizes[sizes.Count / 2], MaxBytes = sizes[^1] };
    }
}

public sealed record RowSizeResult
{
    public int Rows { get; init; }
    public int MinBytes { get; init; }
    public int MedianBytes { get; init; }
    public int MaxBytes { get; init; }
}
