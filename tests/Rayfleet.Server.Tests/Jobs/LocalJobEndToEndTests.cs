using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Providers.Local;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>
/// Ray jobs end to end on the local provider, with the Ray stand-in as <c>ray</c> (it serves Ray's Job API and really
/// runs each entrypoint as a shell command): only the signed HTTP API is used (SubmitRayJob, GetRayJob, CancelRayJob,
/// ListRayLogs, GetRayLog), logs are downloaded from <c>accessUrl</c> with no credential, and what really runs is read
/// from /proc. Real processes run in real time: waits are wall-clock polls with deadlines.
/// </summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalJobEndToEndTests
{
    /// <summary>Jobs are looked at often, so that the tests spend their time on the jobs rather than between polls.</summary>
    private static readonly Dictionary<string, string?> Fast = new()
    {
        ["Rayfleet:Reconciler:JobPollInterval"] = "00:00:00.250",
        ["Rayfleet:Reconciler:ResyncInterval"] = "00:00:02",
    };

    private static readonly TimeSpan JobDeadline = TimeSpan.FromSeconds(60);

    private static object JobMode(string entrypoint, int? ttl = 1, int? deadline = null, int workers = 0, string cpu = "1", string memory = "4Gi") => new
    {
        name = "e2e",
        entrypoint,
        ttlSecondsAfterFinished = ttl,
        activeDeadlineSeconds = deadline,
        headSpec = new { cpu, memory },
        workerSpec = workers == 0 ? Array.Empty<object>() : new object[] { new { groupName = "g", replica = workers, cpu = "1", memory = "4Gi" } },
    };

    private static async Task<string> SubmitAsync(ApiClient api, string ws, object body)
    {
        var response = (await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob", body)).EnsureOk();
        return Str(response.Json["submissionId"]);
    }

    private static async Task<JsonNode> GetJobAsync(ApiClient api, string ws, string id) =>
        (await api.GetAsync($"/api/v1/workspaces/{ws}/rayJob/{id}")).EnsureOk().Json;

    private static async Task<JsonNode> WaitForJobAsync(ApiClient api, string ws, string id, Func<JsonNode, bool> until, string what, TimeSpan? deadline = null)
    {
        JsonNode? last = null;
        try
        {
            await Wall.UntilAsync(async () => until(last = await GetJobAsync(api, ws, id)), what, deadline ?? JobDeadline);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message} Last seen: {last?.ToJsonString()}", ex);
        }
        return last!;
    }

    private static Func<JsonNode, bool> Status(string status) => j => Str(j["status"]) == status;

    private static string Str(JsonNode? node) => node?.GetValue<string>() ?? throw new InvalidOperationException("missing value");

    private static string Logs(string ws, string id) => $"/api/interactive/v1/workspace/{ws}/ray/{id}";

    /// <summary>ListRayLogs of <paramref name="prefix"/> (the job's folder by default), one level deep or all of it.</summary>
    private static async Task<JsonArray> ListLogsAsync(ApiClient api, string ws, string id, string? prefix = null, bool delimiter = true)
    {
        var query = new List<string> { "maxKeys=999" };
        if (prefix is not null) query.Add("prefix=" + Uri.EscapeDataString(prefix));
        if (delimiter) query.Add("delimiter=%2F");
        var body = (await api.GetAsync($"{Logs(ws, id)}/logs?{string.Join('&', query)}")).EnsureOk().Json;
        Assert.Equal("1000000", Str(body["code"]));
        Assert.False(body["data"]!["isTruncated"]!.GetValue<bool>());
        return body["data"]!["objectList"]!.AsArray();
    }

    /// <summary>GetRayLog's accessUrl for a path as ListRayLogs shows it.</summary>
    private static async Task<string> AccessUrlAsync(ApiClient api, string ws, string id, string path)
    {
        var body = (await api.GetAsync($"{Logs(ws, id)}/log?path={Uri.EscapeDataString(path)}")).EnsureOk().Json;
        return Str(body["data"]!["accessUrl"]);
    }

    /// <summary>Downloads a log with a client that carries no credential: the URL is all it has.</summary>
    private static async Task<string> DownloadAsync(HttpClient unsigned, string url)
    {
        using var response = await unsigned.GetAsync(new Uri(url));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)response.StatusCode} {text}");
        return text;
    }

    private static string Entry(JsonNode? entry, string field) => Str(entry![field]);

    /// <summary>A command line no other test runs, so that /proc shows exactly this job's process.</summary>
    private static string UniqueSleep() =>
        "6" + Random.Shared.Next(10, 99).ToString(CultureInfo.InvariantCulture) + "." + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_job_mode_job_succeeds_its_logs_are_served_and_outlive_its_cluster_and_a_restart()
    {
        using var setup = new LocalSetup();
        string ws, id, driverPath, driverName;
        using (var host = setup.Host(extra: Fast))
        {
            var api = host.Api();
            ws = await api.DefaultWorkspaceAsync();
            id = await SubmitAsync(api, ws, JobMode("echo hello; exit 0", ttl: 2, workers: 1));

            var running = await WaitForJobAsync(api, ws, id, j => Str(j["clusterState"]) == "Running" || Str(j["status"]) == "Succeeded", "the job's cluster runs");
            var clusterId = Str(running["clusterId"]);
            var cluster = await api.GetClusterAsync(ws, clusterId);
            Assert.Equal(id, Str(cluster["jobSubmissionId"]));
            var nodeIds = cluster["instances"]!.AsArray().Select(n => Str(n!["instanceId"])).Order(StringComparer.Ordinal).ToList();

            var done = await WaitForJobAsync(api, ws, id, Status("Succeeded"), "the job succeeds");
            Assert.Equal("Job finished successfully.", Str(done["message"]));
            // Ray stamps start_time at submission to Ray, which follows the submission to Rayfleet.
            var (submitted, started, ended) = (done["submitTime"]!.GetValue<long>(), done["startTime"]!.GetValue<long>(), done["endTime"]!.GetValue<long>());
            Assert.True(submitted <= started && started <= ended, $"submitTime {submitted}, startTime {started}, endTime {ended}");

            // ttlSecondsAfterFinished after the end, not before, the cluster goes: its record, its nodes, its processes.
            await WaitForJobAsync(api, ws, id, j =>
            {
                var deleted = Str(j["clusterState"]) == "Deleted";
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                Assert.False(deleted && now < ended + 2000, $"the cluster was deleted by {now}, before {ended} + 2 s");
                return deleted;
            }, "the job's cluster is deleted after its TTL");
            Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{clusterId}")).Status);
            await Wall.UntilAsync(() => setup.StandInPids().Count == 0 && setup.Processes().Count == 0, "no stand-in is left");
            var after = await GetJobAsync(api, ws, id);
            Assert.Equal("Succeeded", Str(after["status"]));
            Assert.Equal(ended, after["endTime"]!.GetValue<long>());

            // The job's folder: its driver log and the node logs copied before the nodes went.
            var folder = "/" + ws + "/ray/logs/" + id + "/";
            var top = await ListLogsAsync(api, ws, id);
            driverName = id + "_driver.log";
            var driver = Assert.Single(top, e => Entry(e, "name") == driverName);
            Assert.False(driver!["isDir"]!.GetValue<bool>());
            driverPath = Entry(driver, "path");
            Assert.Equal(folder + driverName, driverPath);
            Assert.Contains(top, e => Entry(e, "name") == "nodes" && e!["isDir"]!.GetValue<bool>());

            var nodes = await ListLogsAsync(api, ws, id, folder + "nodes/");
            Assert.Equal(nodeIds, nodes.Where(e => e!["isDir"]!.GetValue<bool>()).Select(e => Entry(e, "name")).Order(StringComparer.Ordinal));
            var all = (await ListLogsAsync(api, ws, id, delimiter: false)).Select(e => Entry(e, "path")).ToList();
            foreach (var node in nodeIds) Assert.Contains($"{folder}nodes/{node}/ray.log", all);
            var headId = Str(cluster["instances"]!.AsArray().First(n => Str(n!["type"]) == "Head")!["instanceId"]);
            Assert.Contains($"{folder}nodes/{headId}/session_latest/logs/job-driver-{id}.log", all);

            using var unsigned = host.UnsignedClient();
            Assert.Contains("hello", await DownloadAsync(unsigned, await AccessUrlAsync(api, ws, id, driverPath)), StringComparison.Ordinal);
            Assert.Contains("[ray stand-in, not Ray]", await DownloadAsync(unsigned, await AccessUrlAsync(api, ws, id, $"{folder}nodes/{headId}/ray.log")), StringComparison.Ordinal);
            Assert.Equal("hello\n", await DownloadAsync(unsigned, await AccessUrlAsync(api, ws, id, $"{folder}nodes/{headId}/session_latest/logs/job-driver-{id}.log")));
        }

        // A new service on the same data folder: the job's record and its logs are still served.
        using (var again = setup.Host(extra: Fast))
        {
            var api = again.Api();
            var job = await GetJobAsync(api, ws, id);
            Assert.Equal("Succeeded", Str(job["status"]));
            Assert.Equal("Deleted", Str(job["clusterState"]));
            Assert.Contains((await ListLogsAsync(api, ws, id)).Select(e => Entry(e, "name")), n => n == driverName);
            using var unsigned = again.UnsignedClient();
            Assert.Equal("hello\n", await DownloadAsync(unsigned, await AccessUrlAsync(api, ws, id, driverPath)));
        }
    }

    [Fact]
    public async Task An_entrypoint_that_exits_3_fails_and_the_message_names_the_exit_code()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(extra: Fast);
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await SubmitAsync(api, ws, JobMode("echo about to fail; exit 3"));

        var failed = await WaitForJobAsync(api, ws, id, j => JobDone(j), "the job ends");

        Assert.Equal("Failed", Str(failed["status"]));
        Assert.Contains("exit code 3", Str(failed["message"]), StringComparison.Ordinal);
        Assert.NotNull(failed["endTime"]);
        var url = await AccessUrlAsync(api, ws, id, $"/{ws}/ray/logs/{id}/{id}_driver.log");
        using var unsigned = host.UnsignedClient();
        Assert.Equal("about to fail\n", await DownloadAsync(unsigned, url));
        await ClusterGoesAsync(api, setup, ws, id);
        Assert.Equal("about to fail\n", await DownloadAsync(unsigned, url));
    }

    /// <summary>A job-mode cluster goes after its job, however the job ended.</summary>
    private static async Task ClusterGoesAsync(ApiClient api, LocalSetup setup, string ws, string id)
    {
        var job = await WaitForJobAsync(api, ws, id, j => Str(j["clusterState"]) == "Deleted", "the job's cluster is deleted after its TTL");
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{Str(job["clusterId"])}")).Status);
        await Wall.UntilAsync(() => setup.StandInPids().Count == 0 && setup.Processes().Count == 0, "no stand-in is left");
    }

    private static bool JobDone(JsonNode job) => Str(job["status"]) is "Succeeded" or "Failed" or "Cancelled" or "Timeout";

    [Fact]
    public async Task CancelRayJob_stops_a_running_sleep_the_job_is_Cancelled_and_the_process_is_gone()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(extra: Fast);
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var seconds = UniqueSleep();
        var id = await SubmitAsync(api, ws, JobMode($"sleep {seconds}"));
        await WaitForJobAsync(api, ws, id, Status("Running"), "the job runs");
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 1, "the job's sleep runs");

        var cancel = (await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{id}/cancel")).EnsureOk().Json;
        Assert.True(cancel["success"]!.GetValue<bool>());

        var cancelled = await WaitForJobAsync(api, ws, id, JobDone, "the job ends");
        Assert.Equal("Cancelled", Str(cancelled["status"]));
        Assert.Equal("The job was cancelled.", Str(cancelled["message"]));
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 0, "the sleep is gone");
        // Nothing more to cancel: success false, without an error.
        Assert.False((await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{id}/cancel")).EnsureOk().Json["success"]!.GetValue<bool>());
        await ClusterGoesAsync(api, setup, ws, id);
        Assert.Equal("Cancelled", Str((await GetJobAsync(api, ws, id))["status"]));
    }

    [Fact]
    public async Task A_sleep_past_activeDeadlineSeconds_is_stopped_and_the_job_ends_Timeout()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(extra: Fast);
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var seconds = UniqueSleep();
        // The deadline counts from submission, the cluster's start included; long enough for the sleep to start.
        const int deadline = 8;
        var id = await SubmitAsync(api, ws, JobMode($"sleep {seconds}", deadline: deadline));
        var submitted = (await GetJobAsync(api, ws, id))["submitTime"]!.GetValue<long>();
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 1, "the job's sleep runs");

        var timedOut = await WaitForJobAsync(api, ws, id, JobDone, "the job ends");

        Assert.Equal("Timeout", Str(timedOut["status"]));
        Assert.Equal("The job ran past its activeDeadlineSeconds and was stopped.", Str(timedOut["message"]));
        Assert.True(timedOut["endTime"]!.GetValue<long>() >= submitted + deadline * 1000L,
            $"ended at {timedOut["endTime"]}, {deadline} s after {submitted} at the earliest");
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 0, "the sleep is gone");
        await ClusterGoesAsync(api, setup, ws, id);
        Assert.Equal("Timeout", Str((await GetJobAsync(api, ws, id))["status"]));
    }

    [Fact]
    public async Task A_job_on_an_existing_cluster_runs_there_and_the_cluster_keeps_running_after_it()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(extra: Fast);
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var clusterId = await api.CreateClusterAsync(ws, new { name = "shared", headSpec = new { cpu = "1", memory = "4Gi" }, workerSpec = Array.Empty<object>() });
        var cluster = await Wall.ClusterAsync(api, ws, clusterId, InState("Running"), "the cluster runs");
        var headId = Str(cluster["instances"]!.AsArray().Single()!["instanceId"]);
        var pids = await setup.StandInPidsAsync(1);

        // A TTL asks nothing of a cluster the job does not own.
        var id = await SubmitAsync(api, ws, new { name = "on-shared", entrypoint = "echo \"on $RAYFLEET_NODE_ID\"", clusterId, ttlSecondsAfterFinished = 1 });
        var done = await WaitForJobAsync(api, ws, id, JobDone, "the job ends");

        Assert.Equal("Succeeded", Str(done["status"]));
        Assert.Equal(clusterId, Str(done["clusterId"]));
        var url = await AccessUrlAsync(api, ws, id, $"/{ws}/ray/logs/{id}/{id}_driver.log");
        using var unsigned = host.UnsignedClient();
        Assert.Equal($"on {headId}\n", await DownloadAsync(unsigned, url));

        // Well past the TTL, the cluster still runs on the very same process.
        var end = DateTimeOffset.FromUnixTimeMilliseconds(done["endTime"]!.GetValue<long>()) + TimeSpan.FromSeconds(3);
        await Wall.UntilAsync(() => DateTimeOffset.UtcNow > end, "three seconds have passed since the job's end");
        Assert.Equal("Running", Str((await api.GetClusterAsync(ws, clusterId))["state"]));
        Assert.Equal("Running", Str((await GetJobAsync(api, ws, id))["clusterState"]));
        Assert.Equal(pids, setup.StandInPids());
    }

    [Fact]
    public async Task A_job_whose_cluster_waits_for_queue_capacity_stays_Pending_then_runs_once_capacity_frees()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host(extra: Fast);
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("small", "local", cu: "2");
        var blocker = await api.CreateClusterAsync(ws, new { name = "blocker", headSpec = new { cpu = "2", memory = "8Gi" }, workerSpec = Array.Empty<object>() });
        await Wall.ClusterAsync(api, ws, blocker, InState("Running"), "the blocker runs");
        await setup.StandInPidsAsync(1);

        var id = await SubmitAsync(api, ws, JobMode("echo finally"));
        var pending = await WaitForJobAsync(api, ws, id, j => Str(j["status"]) == "Pending" && Str(j["clusterState"]) == "Pending", "the job waits");
        Assert.Contains("queue 'root_queue'", Str(pending["message"]), StringComparison.Ordinal);
        // It stays so through passes and a resync: nothing of its cluster runs and it still waits.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        await Wall.UntilAsync(async () =>
        {
            var job = await GetJobAsync(api, ws, id);
            Assert.Equal("Pending", Str(job["status"]));
            Assert.Equal("Pending", Str(job["clusterState"]));
            Assert.Contains("queue 'root_queue'", Str(job["message"]), StringComparison.Ordinal);
            Assert.Single(setup.StandInPids());
            return DateTime.UtcNow > until;
        }, "the job has been seen waiting for three seconds");

        // A second waiting job, cancelled before its cluster got capacity: it never runs, and its cluster leaves the line.
        var marker = Path.Combine(setup.DataDirectory, "never");
        var other = await SubmitAsync(api, ws, JobMode($"echo ran > '{marker}'"));
        var otherCluster = Str((await WaitForJobAsync(api, ws, other, Status("Pending"), "the second job waits"))["clusterId"]);
        Assert.True((await api.PostAsync($"/api/v1/workspaces/{ws}/rayJob/{other}/cancel")).EnsureOk().Json["success"]!.GetValue<bool>());
        var cancelled = await WaitForJobAsync(api, ws, other, JobDone, "the second job ends");
        Assert.Equal("Cancelled", Str(cancelled["status"]));
        Assert.Equal("The job was cancelled. It had not started.", Str(cancelled["message"]));
        Assert.Null(cancelled["startTime"]?.GetValue<long?>());
        await WaitForJobAsync(api, ws, other, j => Str(j["clusterState"]) == "Deleted", "the second job's cluster is deleted");
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{otherCluster}")).Status);

        (await api.DeleteAsync($"/api/v1/workspaces/{ws}/rayCluster/{blocker}")).EnsureOk();
        var done = await WaitForJobAsync(api, ws, id, JobDone, "the job ends");
        Assert.Equal("Succeeded", Str(done["status"]));
        var url = await AccessUrlAsync(api, ws, id, $"/{ws}/ray/logs/{id}/{id}_driver.log");
        using var unsigned = host.UnsignedClient();
        Assert.Equal("finally\n", await DownloadAsync(unsigned, url));
        Assert.False(File.Exists(marker), "the cancelled job never ran");
    }

    [Fact]
    public async Task After_a_SIGKILL_of_the_service_the_restarted_service_follows_the_running_job_to_its_end_and_it_ran_once()
    {
        using var setup = new LocalSetup();
        var settings = setup.Settings(LocalSetup.StandIn);
        settings["Rayfleet:DataDirectory"] = setup.DataDirectory;
        settings["Logging:LogLevel:Default"] = "Warning";
        foreach (var (k, v) in Fast) settings[k] = v;
        var runs = Path.Combine(setup.DataDirectory, "runs.txt");
        var go = Path.Combine(setup.DataDirectory, "go");
        // One line per run of the entrypoint; it then waits for the test's go-ahead, so that it is sure to outlive the service.
        var entrypoint = $"echo ran >> '{runs}'; while [ ! -e '{go}' ]; do sleep 0.1; done; echo finished";

        string ws, id;
        IReadOnlyList<int> standIns;
        using (var first = await ServiceProcess.StartAsync(settings))
        {
            using var http = ServiceProcess.Client(first.Address);
            var api = new ApiClient(http);
            ws = await api.DefaultWorkspaceAsync();
            id = await SubmitAsync(api, ws, JobMode(entrypoint, ttl: 1, workers: 1));
            await WaitForJobAsync(api, ws, id, Status("Running"), "the job runs");
            await Wall.UntilAsync(() => File.Exists(runs), "the entrypoint has started");
            standIns = await setup.StandInPidsAsync(2);
            first.Kill();
        }
        // The nodes, and the job on them, outlive the service, as Ray's do.
        Assert.Equal(standIns.Order(), setup.StandInPids().Order());

        using var second = await ServiceProcess.StartAsync(settings);
        using var http2 = ServiceProcess.Client(second.Address);
        var api2 = new ApiClient(http2);
        var adopted = await WaitForJobAsync(api2, ws, id, j => Str(j["status"]) == "Running" && Str(j["clusterState"]) == "Running", "the restarted service follows the job");
        Assert.Equal(standIns.Order(), setup.StandInPids().Order()); // adopted, not started again

        await File.WriteAllTextAsync(go, "");
        var done = await WaitForJobAsync(api2, ws, id, JobDone, "the job ends");
        Assert.Equal("Succeeded", Str(done["status"]));
        Assert.Equal(Str(adopted["clusterId"]), Str(done["clusterId"]));
        Assert.Equal(["ran"], await File.ReadAllLinesAsync(runs));

        using var unsigned = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        var log = await DownloadAsync(unsigned, await AccessUrlAsync(api2, ws, id, $"/{ws}/ray/logs/{id}/{id}_driver.log"));
        Assert.Equal("finished\n", log);
        await ClusterGoesAsync(api2, setup, ws, id);
        Assert.Equal(["ran"], await File.ReadAllLinesAsync(runs));

        // The adopted nodes' logs were copied before they went, as a job-mode cluster's always are.
        var folder = $"/{ws}/ray/logs/{id}/";
        Assert.Equal(2, (await ListLogsAsync(api2, ws, id, folder + "nodes/")).Count(e => e!["isDir"]!.GetValue<bool>()));
        var all = (await ListLogsAsync(api2, ws, id, delimiter: false)).Select(e => Entry(e, "path")).ToList();
        var copied = Assert.Single(all, p => p.EndsWith($"/session_latest/logs/job-driver-{id}.log", StringComparison.Ordinal));
        Assert.Equal("finished\n", await DownloadAsync(unsigned, await AccessUrlAsync(api2, ws, id, copied)));
    }
}
