using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>
/// Get and List of clusters whose spec is large (issue 8): a spec is up to a megabyte, and a List of a hundred must not
/// read a hundred of them; what the caller gets back is unchanged.
/// </summary>
public sealed class ClusterReadTests
{
    /// <summary>Records the SQL that API requests (not the reconciler, which has no HttpContext) send to the store.</summary>
    private sealed class RequestCommands(IHttpContextAccessor http) : DbCommandInterceptor
    {
        public volatile bool Armed;
        public ConcurrentQueue<string> Texts { get; } = new();

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (Armed && http.HttpContext is not null) Texts.Enqueue(command.CommandText);
            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }
    }

    [Fact]
    public async Task List_of_large_clusters_reads_no_whole_spec_or_node_list_and_List_and_Get_answer_the_values_sent()
    {
        RequestCommands? commands = null;
        using var host = new RayfleetHost(services: s =>
        {
            s.AddHttpContextAccessor();
            s.AddSingleton<IInterceptor>(sp => commands = new RequestCommands(sp.GetRequiredService<IHttpContextAccessor>()));
        });
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        // Values at the limits, with escapes.
        var env = string.Join('\n', Enumerable.Range(0, 2).Select(i => $"BIG_{i}={new string((char)('a' + i), 4000)}\"\\"));
        var extraParam = $$"""{"bench":"{{new string('x', 16_000)}}"}""";
        var workers = Enumerable.Range(1, 3).Select(g => new
        {
            groupName = $"g{g}", workerType = "CPU", replica = 1, cpu = "1", memory = "2Gi", env, rayStartParams = "--num-cpus=1",
        }).ToArray();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(1)); // List is newest first; the fake clock stands still otherwise
            ids.Add(await api.CreateClusterAsync(ws, new { name = $"big-{i}", extraParam, headSpec = new { cpu = "1", memory = "2Gi", env }, workerSpec = workers }));
        }
        await api.WaitForClusterAsync(ws, ids[0], ApiClient.InState("Running"));

        commands!.Armed = true;
        var list = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster?pageSize=100")).EnsureOk().Json;
        commands.Armed = false;
        var get = await api.GetClusterAsync(ws, ids[0]);

        // List reads the listing spec and small columns; the whole spec and the run spec only inside the CASE that
        // limits them to rows with a change not observed yet, the node list never.
        Assert.NotEmpty(commands.Texts);
        Assert.Contains(commands.Texts, sql => sql.Contains("\"ListSpecJson\"", StringComparison.Ordinal));
        Assert.All(commands.Texts, sql =>
        {
            var outsideCase = Regex.Replace(sql, @"CASE\s.*?\sEND", "", RegexOptions.Singleline);
            Assert.DoesNotContain(".\"SpecJson\"", outsideCase, StringComparison.Ordinal);
            Assert.DoesNotContain(".\"RunSpecJson\"", outsideCase, StringComparison.Ordinal);
            Assert.DoesNotContain("NodesJson", sql, StringComparison.Ordinal);
        });

        var items = list["rayClusters"]!.AsArray();
        Assert.Equal(["big-2", "big-1", "big-0"], items.Select(c => c!["name"]!.GetValue<string>()));
        Assert.All(items, c =>
        {
            Assert.Null(c!["extraParam"]);
            Assert.Equal(["g1", "g2", "g3"], c["workerSpec"]!.AsArray().Select(w => w!["groupName"]!.GetValue<string>()));
            Assert.Null(c["workerSpec"]![0]!["env"]);
            Assert.Equal("2Gi", c["headSpec"]!["memory"]!.GetValue<string>());
        });
        Assert.Equal("Running", items[2]!["state"]!.GetValue<string>());

        Assert.Equal(extraParam, get["extraParam"]!.GetValue<string>());
        Assert.Equal(env, get["headSpec"]!["env"]!.GetValue<string>());
        Assert.All(get["workerSpec"]!.AsArray(), w => Assert.Equal(env, w!["env"]!.GetValue<string>()));
        Assert.Equal(4, get["instances"]!.AsArray().Count);
    }
}
