using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Persistence;

/// <summary>
/// The service in a process of its own, SIGKILLed while sixteen callers create clusters as fast as it answers (so that
/// commits carry many creates each): after the restart every create it acknowledged is there, once.
/// </summary>
public sealed class GroupCommitKillTests
{
    private const int Callers = 16;

    [Fact]
    public async Task Every_create_acknowledged_before_a_SIGKILL_during_group_committed_bursts_is_there_after_the_restart()
    {
        var data = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(data);
        try
        {
            var settings = new Dictionary<string, string?>
            {
                ["Rayfleet:DataDirectory"] = data,
                ["Rayfleet:DefaultProvider"] = "simulated",
                ["Logging:LogLevel:Default"] = "Warning",
            };
            var acknowledged = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            string ws;
            using (var first = await ServiceProcess.StartAsync(settings))
            {
                using var http = ServiceProcess.Client(first.Address);
                ws = await new ApiClient(http).DefaultWorkspaceAsync();
                using var stop = new CancellationTokenSource();
                var killed = false;
                var callers = Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
                {
                    for (var i = 0; !stop.IsCancellationRequested; i++)
                    {
                        try
                        {
                            using var body = new StringContent(
                                $$$"""{"name":"kill-{{{c}}}-{{{i}}}","headSpec":{"cpu":"1","memory":"4Gi"}}""", Encoding.UTF8, "application/json");
                            using var response = await http.PostAsync(new Uri($"/api/v1/workspaces/{ws}/rayCluster", UriKind.Relative), body, stop.Token);
                            if (response.StatusCode != HttpStatusCode.OK) continue;
                            var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(stop.Token))!;
                            acknowledged[json["clusterId"]!.GetValue<string>()] = true;
                        }
                        catch (Exception) when (stop.IsCancellationRequested || Volatile.Read(ref killed))
                        {
                            return; // the answer of a call in flight at the kill is lost; its effect may or may not be there
                        }
                        catch (HttpRequestException)
                        {
                            return;
                        }
                    }
                })).ToList();

                await Wall.UntilAsync(() => Task.FromResult(acknowledged.Count >= 400), "400 creates are acknowledged", TimeSpan.FromSeconds(90));
                Volatile.Write(ref killed, true);
                first.Kill();
                await stop.CancelAsync();
                await Task.WhenAll(callers);
            }

            var before = acknowledged.Keys.ToHashSet(StringComparer.Ordinal);
            using var second = await ServiceProcess.StartAsync(settings);
            using var http2 = ServiceProcess.Client(second.Address);
            var api = new ApiClient(http2);
            var listed = new List<string>();
            for (var page = 1; ; page++)
            {
                var json = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster?pageNum={page}&pageSize=100")).EnsureOk().Json;
                var items = json["rayClusters"]!.AsArray();
                listed.AddRange(items.Select(c => c!["clusterId"]!.GetValue<string>()));
                if (items.Count < 100) break;
            }

            Assert.Empty(before.Except(listed));
            Assert.Equal(listed.Count, listed.Distinct().Count());
            // Besides the acknowledged ones, at most the calls in flight at the kill (each caller has one at a time).
            Assert.InRange(listed.Count - before.Count, 0, Callers);
        }
        finally
        {
            RayfleetHost.TryDelete(data);
        }
    }
}
