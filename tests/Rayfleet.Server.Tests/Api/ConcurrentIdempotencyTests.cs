using System.Collections.Concurrent;
using System.Data.Common;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Api;

/// <summary>
/// clientToken under contention (issue 8): whatever the interleaving, one token is one effect and one stored answer, and
/// every caller gets that answer.
/// </summary>
public sealed class ConcurrentIdempotencyTests
{
    private const int Callers = 50;

    /// <summary>Every log entry of the host, for asserting that a lost race is not an error.</summary>
    private sealed class CapturedLogs : ILoggerProvider
    {
        public readonly ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        public IEnumerable<string> Errors =>
            Entries.Where(e => e.Level >= LogLevel.Error).Select(e => $"{e.Category}: {e.Message}");

        private sealed class Logger(CapturedLogs owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((category, logLevel, formatter(state, exception) + (exception is null ? "" : $" {exception.GetType().Name}: {exception.Message}")));
        }
    }

    private static (RayfleetHost Host, CapturedLogs Logs) StartHost(string? dataDirectory = null, Action<IServiceCollection>? services = null, Microsoft.Extensions.Time.Testing.FakeTimeProvider? clock = null)
    {
        var logs = new CapturedLogs();
        var host = new RayfleetHost(dataDirectory, clock, services: s =>
        {
            s.AddSingleton<ILoggerProvider>(logs);
            services?.Invoke(s);
        });
        return (host, logs);
    }

    /// <summary>Sends <paramref name="send"/> <see cref="Callers"/> times at once: all are released together.</summary>
    private static async Task<RawResponse[]> AllAtOnceAsync(Func<Task<RawResponse>> send)
    {
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
        {
            await go.Task;
            return await send();
        })).ToList();
        go.SetResult();
        return await Task.WhenAll(calls);
    }

    /// <summary>Every caller and a later retry got the byte-identical 200 answer; returns it.</summary>
    private static async Task<RawResponse> AssertOneAnswerAsync(RawResponse[] responses, Func<Task<RawResponse>> retry)
    {
        var answer = responses[0].EnsureOk();
        foreach (var response in responses)
        {
            response.EnsureOk();
            Assert.Equal(answer.Body, response.Body);
        }
        var later = (await retry()).EnsureOk();
        Assert.Equal(answer.Body, later.Body);
        return answer;
    }

    private static async Task<int> AuditCountAsync(RayfleetHost host, string action) =>
        (await host.AuditRowsAsync()).Count(a => a.Action == "emr-serverless-spark:" + action && a.Outcome == "Success");

    private static async Task<ClusterRow> ClusterRowAsync(RayfleetHost host, string clusterId)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        return await db.Clusters.AsNoTracking().SingleAsync(c => c.Id == clusterId);
    }

    private static void AssertGatesReleased(RayfleetHost host) =>
        Assert.Equal(0, host.Services.GetRequiredService<KeyedGates>().Count);

    [Fact]
    public async Task Fifty_concurrent_CreateRayCluster_calls_with_one_clientToken_create_one_cluster_and_all_get_its_answer()
    {
        var (host, logs) = StartHost();
        using var _ = host;
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var body = Bodies.Minimal("once").Set("clientToken", $"\"{Guid.NewGuid()}\"");
        Task<RawResponse> Send() => api.RawPostAsync(Clusters(ws), body);

        var answer = await AssertOneAnswerAsync(await AllAtOnceAsync(Send), Send);

        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json;
        Assert.Equal(1, list["totalCount"]!.GetValue<int>());
        Assert.Equal(answer.Json["clusterId"]!.GetValue<string>(), list["rayClusters"]![0]!["clusterId"]!.GetValue<string>());
        Assert.Equal(1, await AuditCountAsync(host, "CreateRayCluster"));
        Assert.Empty(logs.Errors);
        AssertGatesReleased(host);
    }

    [Fact]
    public async Task Fifty_concurrent_StartRayCluster_calls_with_one_clientToken_start_one_instance_and_all_get_its_answer()
    {
        var (host, logs) = StartHost();
        using var _ = host;
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Running"));
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Stopped"));
        var stoppedInstance = (await ClusterRowAsync(host, id)).InstanceId;
        var body = $$"""{"clientToken":"{{Guid.NewGuid()}}"}""";
        Task<RawResponse> Send() => api.RawPostAsync($"{Clusters(ws)}/{id}/start", body);

        await AssertOneAnswerAsync(await AllAtOnceAsync(Send), Send);

        Assert.Equal(1, await AuditCountAsync(host, "StartRayCluster"));
        var row = await ClusterRowAsync(host, id);
        Assert.NotEqual(stoppedInstance, row.InstanceId);
        Assert.True(row.DesiredRunning);
        Assert.Empty(logs.Errors);
        AssertGatesReleased(host);
    }

    [Fact]
    public async Task Fifty_concurrent_UpdateRayCluster_calls_with_one_clientToken_bump_the_generation_once_and_all_get_its_answer()
    {
        var (host, logs) = StartHost();
        using var _ = host;
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var before = (await ClusterRowAsync(host, id)).Generation;
        var body = $$"""{"description":"changed once","clientToken":"{{Guid.NewGuid()}}"}""";
        Task<RawResponse> Send() => api.RawPostAsync($"{Clusters(ws)}/{id}", body);

        await AssertOneAnswerAsync(await AllAtOnceAsync(Send), Send);

        Assert.Equal(before + 1, (await ClusterRowAsync(host, id)).Generation);
        Assert.Equal(1, await AuditCountAsync(host, "UpdateRayCluster"));
        Assert.Equal("changed once", (await api.GetClusterAsync(ws, id))["description"]!.GetValue<string>());
        Assert.Empty(logs.Errors);
        AssertGatesReleased(host);
    }

    [Fact]
    public async Task Fifty_concurrent_DeleteRayCluster_calls_with_one_clientToken_delete_once_and_all_get_its_answer()
    {
        var (host, logs) = StartHost();
        using var _ = host;
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var path = $"{Clusters(ws)}/{id}?clientToken={Guid.NewGuid()}";
        Task<RawResponse> Send() => api.RawDeleteAsync(path);

        await AssertOneAnswerAsync(await AllAtOnceAsync(Send), Send);

        Assert.Equal(1, await AuditCountAsync(host, "DeleteRayCluster"));
        AssertError(await api.RawGetAsync($"{Clusters(ws)}/{id}"), HttpStatusCode.NotFound, "InvalidRayCluster.NotFound");
        Assert.Empty(logs.Errors);
        AssertGatesReleased(host);
    }

    /// <summary>
    /// Lets another replica finish the same call once this one found no stored answer for the token: from there to the
    /// claim in its commit, the in-process gate cannot cover, so only the store can decide.
    /// </summary>
    private sealed class OtherReplicaCommitsFirst(IHttpContextAccessor http, Func<Task> otherReplica) : DbCommandInterceptor
    {
        private int _fired;

        public override async ValueTask<DbDataReader> ReaderExecutedAsync(
            DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
        {
            if (http.HttpContext?.Request.Method == "POST"
                && command.CommandText.Contains("FROM \"idempotency\"", StringComparison.Ordinal)
                && Interlocked.Exchange(ref _fired, 1) == 0)
                await otherReplica();
            return result;
        }
    }

    [Fact]
    public async Task A_replica_that_loses_the_commit_race_for_a_clientToken_discards_its_cluster_and_answers_the_winners_response_quietly()
    {
        var (first, firstLogs) = StartHost();
        using var _ = first;
        var api = first.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var body = Bodies.Minimal("raced").Set("clientToken", $"\"{Guid.NewGuid()}\"");
        RawResponse? winner = null;
        var (second, secondLogs) = StartHost(first.DataDirectory, s => s.AddSingleton<IInterceptor>(sp => new OtherReplicaCommitsFirst(
            sp.GetRequiredService<IHttpContextAccessor>(), async () => winner = await api.RawPostAsync(Clusters(ws), body))), first.Clock);
        using var __ = second;

        var loser = (await second.Api().RawPostAsync(Clusters(ws), body)).EnsureOk();

        Assert.NotNull(winner);
        Assert.Equal(winner.EnsureOk().Body, loser.Body);
        Assert.Equal(winner.Body, (await api.RawPostAsync(Clusters(ws), body)).EnsureOk().Body);
        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json;
        Assert.Equal(1, list["totalCount"]!.GetValue<int>());
        Assert.Equal(1, await AuditCountAsync(first, "CreateRayCluster"));
        Assert.Empty(firstLogs.Errors.Concat(secondLogs.Errors));
    }

    /// <summary>
    /// Lets another replica finish the same call when this one's call first reads a cluster: after this one found no
    /// stored answer, before its change is staged.
    /// </summary>
    private sealed class OtherReplicaRunsFirst(IHttpContextAccessor http, string method, Func<Task> otherReplica) : DbCommandInterceptor
    {
        private int _fired;

        public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            // Only the call under test: the replica's reconciler reads clusters too.
            if (http.HttpContext?.Request.Method == method
                && command.CommandText.Contains("FROM \"clusters\"", StringComparison.Ordinal)
                && Interlocked.Exchange(ref _fired, 1) == 0)
                await otherReplica();
            return result;
        }
    }

    [Fact]
    public async Task A_replica_that_finds_the_cluster_already_deleted_by_the_same_call_answers_that_calls_response_not_NotFound()
    {
        var (first, firstLogs) = StartHost();
        using var _ = first;
        var api = first.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var path = $"{Clusters(ws)}/{id}?clientToken={Guid.NewGuid()}";
        RawResponse? winner = null;
        var (second, secondLogs) = StartHost(first.DataDirectory, s => s.AddSingleton<IInterceptor>(sp => new OtherReplicaRunsFirst(
            sp.GetRequiredService<IHttpContextAccessor>(), "DELETE", async () => winner = await api.RawDeleteAsync(path))), first.Clock);
        using var __ = second;

        var loser = (await second.Api().RawDeleteAsync(path)).EnsureOk();

        Assert.NotNull(winner);
        Assert.Equal(winner.EnsureOk().Body, loser.Body);
        Assert.Equal(1, await AuditCountAsync(first, "DeleteRayCluster"));
        Assert.Empty(firstLogs.Errors.Concat(secondLogs.Errors));
    }
}
