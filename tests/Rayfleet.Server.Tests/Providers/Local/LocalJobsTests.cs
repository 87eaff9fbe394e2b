using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Local;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Providers.Local;

/// <summary>The local provider's job API (the head's dashboard) and node log collection, on a cluster of stand-ins.</summary>
[Collection(LocalProcessesCollection.Name)]
public sealed class LocalJobsTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private sealed class MemorySink : INodeLogSink
    {
        public ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

        public async Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken)
        {
            using var copy = new MemoryStream();
            await content.CopyToAsync(copy, cancellationToken);
            Files[relativeName] = copy.ToArray();
        }

        public string Text(string name) => Encoding.UTF8.GetString(Files[name]);
    }

    private static LocalProvider Provider(RayfleetHost host) => host.Services.GetServices<IClusterProvider>().OfType<LocalProvider>().Single();

    private static string NodeOf(JsonNode cluster, string type) =>
        cluster["instances"]!.AsArray().First(n => n!["type"]!.GetValue<string>() == type)!["instanceId"]!.GetValue<string>();

    [Fact]
    public async Task A_job_runs_on_the_heads_dashboard_and_node_logs_with_its_driver_log_are_collected()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "jobs",
            headSpec = new { cpu = "1", memory = "4Gi" },
            workerSpec = new object[] { new { groupName = "g", replica = 1, cpu = "1", memory = "4Gi" } },
        });
        var running = await Wall.ClusterAsync(api, ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 2, "the cluster runs");
        var instance = running["instanceId"]!.GetValue<string>();
        var (headId, workerId) = (NodeOf(running, "Head"), NodeOf(running, "Worker"));
        var provider = Provider(host);

        var jobs = await provider.JobApiAsync(instance, None);
        Assert.NotNull(jobs);
        var job = new RayJobSubmission { SubmissionId = "local-job-1", Entrypoint = "echo \"ran on $RAYFLEET_NODE_ID\"" };
        // The stand-in's job agent comes up a moment after its dashboard, as Ray's does.
        await Wall.UntilAsync(async () => await jobs.SubmitAsync(job, None) != RaySubmitOutcome.NotReady, "the head takes the job");
        RayJobDetails? ended = null;
        await Wall.UntilAsync(async () => (ended = await jobs.GetAsync(job.SubmissionId, None)) is { } d && RayJobStatus.IsTerminal(d.Status), "the job ends");
        Assert.Equal(RayJobStatus.Succeeded, ended!.Status);
        Assert.Equal($"ran on {headId}\n", await jobs.LogsAsync(job.SubmissionId, None));

        // A node counts as running as soon as its process does; its record follows the first line of its log.
        await setup.RecordAsync(instance, headId);
        await setup.RecordAsync(instance, workerId);
        var sink = new MemorySink();
        await provider.CollectNodeLogsAsync(instance, sink, None);

        Assert.Contains("[ray stand-in, not Ray] pid", sink.Text($"{headId}/ray.log"), StringComparison.Ordinal);
        Assert.Contains(" --head ", sink.Text($"{headId}/ray.log"), StringComparison.Ordinal);
        Assert.Contains("[ray stand-in, not Ray] pid", sink.Text($"{workerId}/ray.log"), StringComparison.Ordinal);
        Assert.Contains(" --address=", sink.Text($"{workerId}/ray.log"), StringComparison.Ordinal);
        Assert.Equal($"ran on {headId}\n", sink.Text($"{headId}/session_latest/logs/job-driver-local-job-1.log"));
        Assert.All(sink.Files.Keys, k => Assert.True(k.StartsWith(headId + "/", StringComparison.Ordinal) || k.StartsWith(workerId + "/", StringComparison.Ordinal), k));

        Assert.Null(await provider.JobApiAsync(instance[..^3] + "zzz", None));
    }

    [Fact]
    public async Task A_stopped_cluster_has_no_job_API_and_its_running_job_ends_with_it()
    {
        using var setup = new LocalSetup();
        using var host = setup.Host();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "stopjobs", headSpec = new { cpu = "1", memory = "4Gi" }, workerSpec = Array.Empty<object>() });
        var running = await Wall.ClusterAsync(api, ws, id, InState("Running"), "the cluster runs");
        var instance = running["instanceId"]!.GetValue<string>();
        var provider = Provider(host);
        var jobs = (await provider.JobApiAsync(instance, None))!;
        var seconds = "4" + Random.Shared.Next(1, 9) + "." + Random.Shared.Next(100000, 999999);
        var job = new RayJobSubmission { SubmissionId = "long", Entrypoint = $"sleep {seconds}" };
        await Wall.UntilAsync(async () => await jobs.SubmitAsync(job, None) != RaySubmitOutcome.NotReady, "the head takes the job");
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 1, "the job's sleep runs");

        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop")).EnsureOk();
        await Wall.ClusterAsync(api, ws, id, InState("Stopped"), "the cluster is stopped");

        Assert.Null(await provider.JobApiAsync(instance, None));
        await Wall.UntilAsync(() => StandInHead.PidsOf("sleep", seconds).Count == 0, "the job's process is gone with its head", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_node_log_over_the_bound_is_collected_as_its_tail_with_a_note()
    {
        using var setup = new LocalSetup();
        // No reconciler: its resync would remove this hand-made instance, which no cluster owns, as an orphan.
        using var host = new RayfleetHost(setup.DataDirectory, settings: setup.Settings(LocalSetup.StandIn), systemClock: true,
            services: s => s.RemoveAll<Microsoft.Extensions.Hosting.IHostedService>());
        var instance = "ray-big-00000000";
        var logs = Path.Combine(setup.InstanceDir(instance), "logs");
        Directory.CreateDirectory(logs);
        var big = new byte[LocalProvider.MaxCollectedLogBytes + 1000];
        Array.Fill(big, (byte)'a');
        Encoding.ASCII.GetBytes("START").CopyTo(big, 0);
        Encoding.ASCII.GetBytes("END\n").CopyTo(big, big.Length - 4);
        await File.WriteAllBytesAsync(Path.Combine(logs, "ray-big-head-x1.log"), big);
        await File.WriteAllTextAsync(Path.Combine(logs, "ray-big-worker-g-x2.log"), "small\n");

        var sink = new MemorySink();
        await Provider(host).CollectNodeLogsAsync(instance, sink, None);

        Assert.Equal(["ray-big-head-x1/ray.log", "ray-big-worker-g-x2/ray.log"], sink.Files.Keys.Order());
        Assert.Equal("small\n", sink.Text("ray-big-worker-g-x2/ray.log"));
        var collected = sink.Files["ray-big-head-x1/ray.log"];
        var note = $"[rayfleet: this log was cut to its last {LocalProvider.MaxCollectedLogBytes} bytes; 1000 earlier bytes were left out]\n";
        Assert.Equal(note, Encoding.ASCII.GetString(collected, 0, note.Length));
        Assert.Equal(LocalProvider.MaxCollectedLogBytes, collected.Length - note.Length);
        Assert.True(collected.AsSpan(note.Length).SequenceEqual(big.AsSpan(1000)));
    }
}
