using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Providers.Local;

/// <summary>
/// The local provider against the Ray stand-in: real processes, real ports, real signals, real time. Every test ends
/// with no process of its own left running (<see cref="LocalSetup.Dispose"/> kills stragglers, and the tests assert
/// there are none before that).
/// </summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalProviderTests
{
    private static object Cluster(string name = "local", int replicas = 2, string? headEnv = null, string? workerEnv = null, string? workerParams = null) => new
    {
        name,
        headSpec = new { cpu = "2", memory = "8Gi", env = headEnv, rayStartParams = "--num-cpus=0 --disable-usage-stats" },
        workerSpec = new object[]
        {
            new { groupName = "WorkerGroup1", replica = replicas, cpu = "1.5", memory = "4Gi", env = workerEnv, rayStartParams = workerParams },
        },
    };

    private static IEnumerable<JsonNode> Nodes(JsonNode cluster, string type) =>
        cluster["instances"]!.AsArray().Where(n => n!["type"]!.GetValue<string>() == type).Select(n => n!);

    private static List<string> Argv(JsonNode record) => [.. record["argv"]!.AsArray().Select(a => a!.GetValue<string>())];

    private static Func<JsonNode, bool> RunningWith(int workers) =>
        c => InState("Running")(c) && Nodes(c, "Worker").Count(n => n["phase"]!.GetValue<string>() == "Running") == workers
                                   && Nodes(c, "Worker").Count() == workers;

    [Fact]
    public async Task Create_runs_one_head_and_the_workers_with_the_spec_arguments_and_environment()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(headEnv: "HEAD_ONLY=1\nSHARED=head", workerEnv: "SHARED=worker\nEMPTY="));

        var running = await Wall.ClusterAsync(api, ws, id, RunningWith(2), "the cluster runs a head and 2 workers");
        var instance = running["instanceId"]!.GetValue<string>();
        var head = Nodes(running, "Head").Single();
        var headId = head["instanceId"]!.GetValue<string>();
        Assert.Equal("Running", head["phase"]!.GetValue<string>());
        Assert.True(head["startTime"]!.GetValue<long>() > 0);
        Assert.Contains("local provider", running["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // The head: Rayfleet's ports, the spec's resources, the user's --num-cpus replacing Rayfleet's, once.
        var headRecord = await setup.RecordAsync(instance, headId);
        var argv = Argv(headRecord);
        Assert.Equal("start", argv[0]);
        Assert.Contains("--head", argv);
        Assert.Contains("--block", argv);
        var gcs = int.Parse(argv.Single(a => a.StartsWith("--port=", StringComparison.Ordinal))[7..]);
        var dashboard = int.Parse(argv.Single(a => a.StartsWith("--dashboard-port=", StringComparison.Ordinal))[17..]);
        var client = int.Parse(argv.Single(a => a.StartsWith("--ray-client-server-port=", StringComparison.Ordinal))[25..]);
        Assert.All(new[] { gcs, dashboard, client }, p => Assert.InRange(p, setup.PortRangeStart, setup.PortRangeEnd));
        Assert.Contains("--dashboard-host=127.0.0.1", argv);
        Assert.Equal(["--num-cpus=0"], argv.Where(a => a.StartsWith("--num-cpus", StringComparison.Ordinal)));
        Assert.Contains("--memory=" + (8L << 30), argv);
        Assert.Contains("--num-gpus=0", argv);
        Assert.Contains("--disable-usage-stats", argv);
        Assert.Contains("--temp-dir=" + setup.TempDir(instance), argv);
        Assert.True(Directory.Exists(setup.TempDir(instance)));
        var headEnv = headRecord["env"]!;
        Assert.Equal("1", headEnv["HEAD_ONLY"]!.GetValue<string>());
        Assert.Equal("head", headEnv["SHARED"]!.GetValue<string>());
        Assert.Equal(headId, headEnv["RAYFLEET_NODE_ID"]!.GetValue<string>());

        // Workers: they join the head's GCS, with the group's whole cores, memory in bytes and env.
        foreach (var worker in Nodes(running, "Worker"))
        {
            var record = await setup.RecordAsync(instance, worker["instanceId"]!.GetValue<string>());
            var w = Argv(record);
            Assert.Contains($"--address=127.0.0.1:{gcs}", w);
            Assert.DoesNotContain("--head", w);
            Assert.DoesNotContain(w, a => a.StartsWith("--port=", StringComparison.Ordinal) || a.StartsWith("--temp-dir", StringComparison.Ordinal));
            Assert.Contains("--num-cpus=1", w);
            Assert.Contains("--memory=" + (4L << 30), w);
            Assert.Equal("worker", record["env"]!["SHARED"]!.GetValue<string>());
            Assert.Equal("", record["env"]!["EMPTY"]!.GetValue<string>());
            Assert.Null(record["env"]!["HEAD_ONLY"]);
            Assert.Equal("WorkerGroup1", worker["groupName"]!.GetValue<string>());
        }

        // Endpoints point at the head's ports; its dashboard answers the health request.
        Assert.Equal($"http://127.0.0.1:{dashboard}", running["dashboardUrl"]!.GetValue<string>());
        Assert.Equal($"http://127.0.0.1:{dashboard}", running["jobUrl"]!.GetValue<string>());
        Assert.Equal($"ray://127.0.0.1:{client}", running["grpcEndpoint"]!.GetValue<string>());
        using (var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) })
            Assert.Equal("success", await http.GetStringAsync(running["dashboardUrl"]!.GetValue<string>() + "/api/gcs_healthz"));

        // One process per node (the stand-ins), each the child of its node's wrapper shell, and one log each.
        await setup.StandInPidsAsync(3);
        Assert.Contains("Ray runtime started (stand-in head)", setup.Log(instance, headId), StringComparison.Ordinal);

        await DeleteAndWaitAsync(api, host, setup, ws, id);
    }

    [Fact]
    public async Task Replica_changes_start_and_stop_workers_at_once_and_autoscaling_runs_replica_within_bounds()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(replicas: 1));
        var first = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "one worker runs");
        var firstWorker = Nodes(first, "Worker").Single()["instanceId"]!.GetValue<string>();

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 3 } } })).EnsureOk();
        var up = await Wall.ClusterAsync(api, ws, id, RunningWith(3), "three workers run");
        Assert.Contains(firstWorker, Nodes(up, "Worker").Select(n => n["instanceId"]!.GetValue<string>()));
        await setup.StandInPidsAsync(4);

        // Down to one: the newest go, the first worker stays; their processes end.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 1 } } })).EnsureOk();
        var down = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "one worker is left");
        Assert.Equal(firstWorker, Nodes(down, "Worker").Single()["instanceId"]!.GetValue<string>());
        await setup.StandInPidsAsync(2); // the stopped workers' processes are gone
        Assert.Equal(first["instanceId"]!.GetValue<string>(), down["instanceId"]!.GetValue<string>());

        // Autoscaling on: replica workers, within [minReplica, maxReplica].
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new
        {
            headSpec = new { enableAutoScaling = true },
            workerSpec = new object[] { new { groupName = "WorkerGroup1", replica = 2, minReplica = 1, maxReplica = 4 } },
        })).EnsureOk();
        await Wall.ClusterAsync(api, ws, id, RunningWith(2), "autoscaling runs replica (2) workers");
        await setup.StandInPidsAsync(3);

        await DeleteAndWaitAsync(api, host, setup, ws, id);
    }

    [Fact]
    public async Task Stop_leaves_no_process_start_runs_a_new_instance_on_fresh_processes_and_delete_removes_processes_and_folders()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(replicas: 1));
        var first = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "the cluster runs");
        var firstInstance = first["instanceId"]!.GetValue<string>();
        var firstPids = await setup.StandInPidsAsync(2);

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
        var stopped = await Wall.ClusterAsync(api, ws, id, InState("Stopped"), "the cluster is stopped");
        Assert.Empty(stopped["instances"]!.AsArray());
        Assert.Empty(setup.StandInPids());
        Assert.Empty(setup.Processes());
        Assert.Equal(0m, await api.UsedCuAsync(ws));
        // A stopped cluster's logs stay readable, and say the node stopped on SIGTERM.
        var headId = Nodes(first, "Head").Single()["instanceId"]!.GetValue<string>();
        Assert.Contains("SIGTERM received", setup.Log(firstInstance, headId), StringComparison.Ordinal);

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { clientToken = Guid.NewGuid().ToString() })).EnsureOk();
        var second = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "the cluster runs again");
        var secondInstance = second["instanceId"]!.GetValue<string>();
        Assert.NotEqual(firstInstance, secondInstance);
        var secondPids = await setup.StandInPidsAsync(2);
        Assert.Empty(secondPids.Intersect(firstPids));
        Assert.All(setup.Processes(), p => Assert.Equal(secondInstance, p.InstanceId));
        // The earlier instance's folders went when the new one started.
        await Wall.UntilAsync(() => !Directory.Exists(setup.InstanceDir(firstInstance)), "the first instance's folder is removed");

        await DeleteAndWaitAsync(api, host, setup, ws, id);
        Assert.False(Directory.Exists(setup.InstanceDir(secondInstance)));
        Assert.False(Directory.Exists(setup.TempDir(secondInstance)));
    }

    [Fact]
    public async Task A_crashed_worker_is_started_again_after_a_backoff()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(replicas: 1, workerEnv: "RAYFLEET_STANDIN_CRASH_AFTER_SECONDS=1.5\nRAYFLEET_STANDIN_CRASH_EXIT_CODE=3"));
        var running = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "the cluster runs");
        var instance = running["instanceId"]!.GetValue<string>();
        var worker = Nodes(running, "Worker").Single()["instanceId"]!.GetValue<string>();
        var firstPid = (await setup.RecordAsync(instance, worker))["pid"]!.GetValue<int>();

        // The worker crashes with code 3; the same node is started again as a new process, and the cluster stays up.
        await Wall.UntilAsync(() => setup.Record(instance, worker)?["pid"]?.GetValue<int>() is { } pid && pid != firstPid, "the worker runs as a new process");
        var after = await Wall.ClusterAsync(api, ws, id,
            c => Nodes(c, "Worker").Single()["message"]!.GetValue<string>().Contains("restarted", StringComparison.Ordinal),
            "the worker reports its restart");
        Assert.NotEqual("Error", after["state"]!.GetValue<string>());
        Assert.Equal(worker, Nodes(after, "Worker").Single()["instanceId"]!.GetValue<string>());
        var log = setup.Log(instance, worker);
        Assert.Contains("Crashing on purpose with exit code 3", log, StringComparison.Ordinal);
        Assert.Contains("(restart 1)", log, StringComparison.Ordinal);

        await DeleteAndWaitAsync(api, host, setup, ws, id);
    }

    [Fact]
    public async Task A_crashed_head_takes_the_cluster_to_Error_with_its_exit_code_and_last_log_lines()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(replicas: 1, headEnv: "RAYFLEET_STANDIN_CRASH_AFTER_SECONDS=2\nRAYFLEET_STANDIN_CRASH_EXIT_CODE=7"));

        var error = await Wall.ClusterAsync(api, ws, id, InState("Error"), "the cluster is in Error");
        var message = error["message"]!.GetValue<string>();
        Assert.Contains("exited with code 7", message, StringComparison.Ordinal);
        Assert.Contains("Crashing on purpose with exit code 7", message, StringComparison.Ordinal);
        Assert.Contains("Start the cluster again", message, StringComparison.Ordinal);
        var head = Nodes(error, "Head").Single();
        Assert.Equal("Failed", head["phase"]!.GetValue<string>());
        Assert.Equal(7, head["containerExitCode"]!.GetValue<int>());
        // Its workers are stopped with it: nothing is left running for a failed instance.
        await Wall.UntilAsync(() => setup.StandInPids().Count == 0, "the workers of the failed head are gone");

        // Start from Error: a new instance on fresh processes (this head crashes again in 2 s, which is fine).
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { clientToken = Guid.NewGuid().ToString() })).EnsureOk();
        var again = await Wall.ClusterAsync(api, ws, id, c => c["instanceId"]!.GetValue<string>() != error["instanceId"]!.GetValue<string>() && InState("Running")(c), "it runs again");
        Assert.Equal("Running", Nodes(again, "Head").Single()["phase"]!.GetValue<string>());

        await DeleteAndWaitAsync(api, host, setup, ws, id);
    }

    [Fact]
    public async Task A_node_that_ignores_SIGTERM_is_killed_after_the_grace_period()
    {
        using var setup = new LocalSetup { Grace = TimeSpan.FromSeconds(3) };
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster(replicas: 1, workerEnv: "RAYFLEET_STANDIN_IGNORE_SIGTERM=1"));
        var running = await Wall.ClusterAsync(api, ws, id, RunningWith(1), "the cluster runs");
        var instance = running["instanceId"]!.GetValue<string>();
        var worker = Nodes(running, "Worker").Single()["instanceId"]!.GetValue<string>();
        var stubborn = (await setup.RecordAsync(instance, worker))["pid"]!.GetValue<int>();

        var stopAt = DateTime.UtcNow;
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
        await Wall.UntilAsync(() => setup.Log(instance, worker).Contains("SIGTERM received and ignored", StringComparison.Ordinal), "the worker got SIGTERM");
        Assert.True(ProcFs(stubborn), "a node that ignores SIGTERM is still there right after it");
        Assert.Equal("Stopping", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());

        await Wall.UntilAsync(() => !ProcFs(stubborn), "the worker is killed");
        var killedAfter = DateTime.UtcNow - stopAt;
        Assert.True(killedAfter >= setup.Grace - TimeSpan.FromMilliseconds(100), $"killed after {killedAfter}, before the grace period of {setup.Grace}");
        await Wall.ClusterAsync(api, ws, id, InState("Stopped"), "the cluster is stopped");
        Assert.Empty(setup.StandInPids());

        await DeleteAndWaitAsync(api, host, setup, ws, id);

        static bool ProcFs(int pid) => Server.Providers.Local.ProcFs.ReadStat(pid) is { IsAlive: true };
    }

    [Fact]
    public async Task Two_clusters_never_share_a_port_also_after_the_service_restarts_and_adopts_its_processes()
    {
        using var setup = new LocalSetup();
        string ws, a, b;
        IReadOnlyList<int> pidsBefore;
        using (var host = setup.Host())
        {
            var api = host.Api();
            ws = await api.DefaultWorkspaceAsync();
            a = await api.CreateClusterAsync(ws, Cluster("a", replicas: 1));
            b = await api.CreateClusterAsync(ws, Cluster("b", replicas: 1));
            await Wall.ClusterAsync(api, ws, a, RunningWith(1), "a runs");
            await Wall.ClusterAsync(api, ws, b, RunningWith(1), "b runs");
            pidsBefore = await setup.StandInPidsAsync(4);
        }

        // A new service on the same data folder: same processes, no second copy; a third cluster gets other ports.
        using var second = setup.Host();
        var api2 = second.Api();
        await Wall.ClusterAsync(api2, ws, a, RunningWith(1), "a runs after the restart");
        var c = await api2.CreateClusterAsync(ws, Cluster("c", replicas: 2));
        await Wall.ClusterAsync(api2, ws, c, RunningWith(2), "c runs");
        await Wall.ClusterAsync(api2, ws, b, RunningWith(1), "b runs after the restart");
        var pidsAfter = await setup.StandInPidsAsync(7);
        Assert.Subset(pidsAfter.ToHashSet(), pidsBefore.ToHashSet());

        var ports = new List<int>();
        foreach (var id in new[] { a, b, c })
        {
            var cluster = await api2.GetClusterAsync(ws, id);
            foreach (var node in cluster["instances"]!.AsArray())
                foreach (var arg in Argv(await setup.RecordAsync(cluster["instanceId"]!.GetValue<string>(), node!["instanceId"]!.GetValue<string>())))
                    if (arg.Split('=') is [var flag, var value] && flag.EndsWith("port", StringComparison.Ordinal) && value != "0")
                        ports.Add(int.Parse(value));
        }
        Assert.Equal(3 * 4 + 4, ports.Count); // three heads of four ports, four workers of one
        Assert.Equal(ports.Count, ports.Distinct().Count());

        foreach (var id in new[] { a, b, c })
            await DeleteAndWaitAsync(api2, second, setup, ws, id);
    }

    [Fact]
    public async Task Without_a_ray_command_create_leads_to_Error_with_the_install_hint_and_the_service_keeps_serving()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(rayCommand: "ray-not-installed-here");
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster());

        var error = await Wall.ClusterAsync(api, ws, id, InState("Error"), "the cluster is in Error");
        Assert.Equal(
            "The ray command 'ray-not-installed-here' for release version 'ray-1.2.0 (Ray 2.55.1, Python 3.12)' was not found on PATH. "
            + "Install Ray (pip install \"ray[default]==2.55.1\") or set Rayfleet:ReleaseVersions:1:RayCommand to its path, "
            + "or create the workspace with provider \"simulated\".",
            error["message"]!.GetValue<string>());
        Assert.Empty(error["instances"]!.AsArray());
        Assert.False(Directory.Exists(setup.InstanceDir(error["instanceId"]!.GetValue<string>())));

        // The service keeps serving, and a workspace on the simulated provider runs clusters right beside it.
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/readyz")).Status);
        var simulated = (await api.PostAsync("/api/v1/workspaces", new { workspaceName = "sim", provider = "simulated", resourceSpec = new { cu = "16" } })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var sim = await api.CreateClusterAsync(simulated, new { name = "sim", headSpec = new { cpu = "1", memory = "4Gi" } });
        await Wall.ClusterAsync(api, simulated, sim, InState("Running"), "the simulated cluster runs");

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        await Wall.UntilAsync(async () => !await host.Services.ClusterRowExistsAsync(id), "the failed cluster is deleted");
    }

    [Fact]
    public async Task A_path_that_is_not_a_ray_command_gets_the_path_hint()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(rayCommand: "/opt/nowhere/bin/ray");
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, Cluster());
        var message = (await Wall.ClusterAsync(api, ws, id, InState("Error"), "the cluster is in Error"))["message"]!.GetValue<string>();
        Assert.StartsWith("The ray command '/opt/nowhere/bin/ray' for release version 'ray-1.2.0 (Ray 2.55.1, Python 3.12)' does not exist or is not executable.", message, StringComparison.Ordinal);
        Assert.Contains("set Rayfleet:ReleaseVersions:1:RayCommand to the path of its ray command", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_head_without_dashboard_is_ready_once_its_GCS_port_accepts_connections()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "bare", headSpec = new { cpu = "1", memory = "2Gi", rayStartParams = "--include-dashboard=false" } });
        var running = await Wall.ClusterAsync(api, ws, id, InState("Running"), "the head-only cluster runs");
        var record = await setup.RecordAsync(running["instanceId"]!.GetValue<string>(), Nodes(running, "Head").Single()["instanceId"]!.GetValue<string>());
        Assert.Contains("--include-dashboard=false", Argv(record));
        Assert.DoesNotContain("dashboard listening", setup.Log(running["instanceId"]!.GetValue<string>(), Nodes(running, "Head").Single()["instanceId"]!.GetValue<string>()), StringComparison.Ordinal);
        await DeleteAndWaitAsync(api, host, setup, ws, id);
    }

    [Fact]
    public async Task Local_and_simulated_workspaces_run_side_by_side()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var workspace = (await api.GetAsync($"/api/v1/workspaces/{ws}")).EnsureOk().Json;
        Assert.Equal("local", workspace["workspace"]!["provider"]!.GetValue<string>());
        var simulated = (await api.PostAsync("/api/v1/workspaces", new { workspaceName = "sim", provider = "simulated" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();

        var local = await api.CreateClusterAsync(ws, Cluster("real", replicas: 1));
        var sim = await api.CreateClusterAsync(simulated, Cluster("pretend", replicas: 1));
        var localRunning = await Wall.ClusterAsync(api, ws, local, RunningWith(1), "the local cluster runs");
        var simRunning = await Wall.ClusterAsync(api, simulated, sim, InState("Running"), "the simulated cluster runs");
        Assert.StartsWith("http://127.0.0.1:", localRunning["dashboardUrl"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("simulated", simRunning["dashboardUrl"]!.GetValue<string>(), StringComparison.Ordinal);
        await setup.StandInPidsAsync(2); // only the local cluster's nodes are processes

        await DeleteAndWaitAsync(api, host, setup, ws, local);
    }

    private static async Task DeleteAndWaitAsync(ApiClient api, RayfleetHost host, LocalSetup setup, string ws, string id)
    {
        var instance = (await api.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>();
        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}")).EnsureOk();
        await Wall.UntilAsync(async () => !await host.Services.ClusterRowExistsAsync(id), "the cluster's resources are gone");
        Assert.Empty(setup.Processes(instance));
        Assert.False(Directory.Exists(setup.InstanceDir(instance)), "the instance folder is removed");
        Assert.False(Directory.Exists(setup.TempDir(instance)), "the temp folder is removed");
    }
}
