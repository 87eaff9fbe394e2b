using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Providers.Local;

/// <summary>
/// The service in a process of its own, SIGKILLed while clusters run and started again on the same data folder: what
/// still runs is adopted (same processes, none twice), what died meanwhile is a crash, and what no cluster owns goes.
/// </summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class ServiceKillTests
{
    private static object Cluster(string name, int workers) => new
    {
        name,
        headSpec = new { cpu = "1", memory = "4Gi" },
        workerSpec = new object[] { new { groupName = "g", replica = workers, cpu = "1", memory = "4Gi" } },
    };

    private static Func<JsonNode, bool> RunningWith(int workers) =>
        c => InState("Running")(c)
             && c["instances"]!.AsArray().Count(n => n!["type"]!.GetValue<string>() == "Worker" && n["phase"]!.GetValue<string>() == "Running") == workers;

    private static string NodeOf(JsonNode cluster, string type) =>
        cluster["instances"]!.AsArray().First(n => n!["type"]!.GetValue<string>() == type)!["instanceId"]!.GetValue<string>();

    [Fact]
    public async Task After_a_SIGKILL_the_service_adopts_live_nodes_restarts_dead_workers_fails_dead_heads_and_removes_what_nobody_owns()
    {
        using var setup = new LocalSetup();
        var settings = setup.Settings(LocalSetup.StandIn);
        settings["Rayfleet:DataDirectory"] = setup.DataDirectory;
        settings["Rayfleet:Reconciler:ResyncInterval"] = "00:00:01";
        settings["Logging:LogLevel:Default"] = "Warning";

        string ws, keep, lose, gone, keepInstance, loseInstance, goneInstance;
        Dictionary<string, List<int>> keepBefore;
        int killedWorkerPid, killedHeadPid;
        string killedWorker;
        using (var first = await ServiceProcess.StartAsync(settings))
        {
            using var http = ServiceProcess.Client(first.Address);
            var api = new ApiClient(http);
            ws = await api.DefaultWorkspaceAsync();
            keep = await api.CreateClusterAsync(ws, Cluster("keep", 2));
            lose = await api.CreateClusterAsync(ws, Cluster("lose", 1));
            gone = await api.CreateClusterAsync(ws, Cluster("gone", 1));
            var keepRunning = await Wall.ClusterAsync(api, ws, keep, RunningWith(2), "keep runs");
            var loseRunning = await Wall.ClusterAsync(api, ws, lose, RunningWith(1), "lose runs");
            var goneRunning = await Wall.ClusterAsync(api, ws, gone, RunningWith(1), "gone runs");
            keepInstance = keepRunning["instanceId"]!.GetValue<string>();
            loseInstance = loseRunning["instanceId"]!.GetValue<string>();
            goneInstance = goneRunning["instanceId"]!.GetValue<string>();
            await Wall.UntilAsync(() => setup.StandInsByNode(keepInstance).Count == 3, "keep's three stand-ins run");
            keepBefore = setup.StandInsByNode(keepInstance);
            killedWorker = NodeOf(keepRunning, "Worker");
            killedWorkerPid = keepBefore[killedWorker].Single();
            await Wall.UntilAsync(() => setup.StandInsByNode(loseInstance).Count == 2, "lose's two stand-ins run");
            killedHeadPid = setup.StandInsByNode(loseInstance)[NodeOf(loseRunning, "Head")].Single();

            // Deleted, and the service dies before (or while) its nodes are removed: the tombstone finishes the job.
            (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{gone}")).EnsureOk();
            first.Kill();
        }
        Assert.NotEmpty(setup.Processes()); // the nodes outlive the service

        // While the service is down: a worker and a head die, and a process that no cluster owns turns up.
        Server.Providers.Local.ProcFs.Signal(killedWorkerPid, Server.Providers.Local.ProcFs.SigKill);
        Server.Providers.Local.ProcFs.Signal(killedHeadPid, Server.Providers.Local.ProcFs.SigKill);
        const string staleInstance = "ray-stale00000000000-abcdefgh";
        using var stale = setup.StartStale(staleInstance, setup.PortRangeEnd + 1);
        await Wall.UntilAsync(() => setup.Processes(staleInstance).Count == 1, "the stale process runs");
        await Wall.UntilAsync(() => Server.Providers.Local.ProcFs.ReadStat(killedWorkerPid) is not { IsAlive: true }, "the worker is dead");

        using var second = await ServiceProcess.StartAsync(settings);
        using var http2 = ServiceProcess.Client(second.Address);
        var api2 = new ApiClient(http2);

        // The live head and worker of "keep" are the very same processes; the dead worker runs again as a new one.
        var keepAfter = await Wall.ClusterAsync(api2, ws, keep,
            c => RunningWith(2)(c) && c["instances"]!.AsArray().Any(n => n!["message"]!.GetValue<string>().Contains("restarted 1 time", StringComparison.Ordinal)),
            "keep runs again with its worker restarted");
        Assert.Equal(keepInstance, keepAfter["instanceId"]!.GetValue<string>());
        await Wall.UntilAsync(() => setup.StandInsByNode(keepInstance).TryGetValue(killedWorker, out var p) && p.Count == 1, "the restarted worker's stand-in runs");
        var byNode = setup.StandInsByNode(keepInstance);
        Assert.Equal(3, byNode.Count);
        Assert.All(byNode.Values, pids => Assert.Single(pids)); // nothing runs twice
        foreach (var (node, pids) in keepBefore.Where(kv => kv.Key != killedWorker))
            Assert.Equal(pids, byNode[node]);
        Assert.NotEqual(killedWorkerPid, byNode[killedWorker].Single());
        var restarted = keepAfter["instances"]!.AsArray().Single(n => n!["instanceId"]!.GetValue<string>() == killedWorker)!;
        Assert.Equal("restarted 1 time(s), last exit code 137 (SIGKILL)", restarted["message"]!.GetValue<string>());
        Assert.Equal(137, restarted["containerExitCode"]!.GetValue<int>());

        // The head that died meanwhile is a crash of the head: Error, with what its log said last.
        var lost = await Wall.ClusterAsync(api2, ws, lose, InState("Error"), "lose is in Error");
        Assert.Contains("exited with code 137 (SIGKILL)", lost["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("Ray runtime started (stand-in head)", lost["message"]!.GetValue<string>(), StringComparison.Ordinal);
        await Wall.UntilAsync(() => setup.StandInsByNode(loseInstance).Count == 0, "lose's worker is stopped with its head");

        // The deleted cluster's nodes and folders are gone, and so is the process nobody owns.
        await Wall.UntilAsync(() => setup.Processes(goneInstance).Count == 0 && !Directory.Exists(setup.InstanceDir(goneInstance)), "gone's nodes and folder are removed");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await api2.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{gone}")).Status);
        await Wall.UntilAsync(() => stale.HasExited, "the stale process is stopped");
        Assert.Empty(setup.Processes(staleInstance));
        await Wall.UntilAsync(() => !Directory.Exists(setup.InstanceDir(staleInstance)), "the stale instance leaves nothing behind");

        foreach (var id in new[] { keep, lose })
        {
            (await api2.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        }
        await Wall.UntilAsync(() => setup.Processes().Count == 0, "every node is gone after the deletes");
        await Wall.UntilAsync(() => !Directory.EnumerateDirectories(setup.Root).Any(d => Path.GetFileName(d).StartsWith("ray-", StringComparison.Ordinal)), "every instance folder is gone");
    }
}
