using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers.Local;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Providers.Local;

/// <summary>The local provider's parts on their own: no service, no processes (except the stand-in's own check).</summary>
public sealed class LocalPartsTests
{
    private static NodeLaunch Head(string? parameters = null, long cpuMillis = 2500, int gpus = 0) => new()
    {
        IsHead = true, NodeIp = "127.0.0.1", GcsPort = 23000, DashboardPort = 23001, ClientPort = 23002, AgentPort = 23003,
        CpuMillis = cpuMillis, MemoryBytes = 8L << 30, Gpus = gpus, TempDir = "/tmp/rf/abcd1234", RayStartParams = parameters,
    };

    [Fact]
    public void A_head_gets_its_ports_whole_cores_memory_in_bytes_gpus_and_temp_dir()
    {
        var command = RayStartCommand.For(Head(gpus: 1));
        Assert.Equal(
            ["start", "--head", "--port=23000", "--block", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
             "--dashboard-port=23001", "--ray-client-server-port=23002", "--dashboard-agent-listen-port=23003",
             "--min-worker-port=0", "--max-worker-port=0", "--num-cpus=2", "--memory=8589934592", "--num-gpus=1",
             "--temp-dir=/tmp/rf/abcd1234"],
            command.Arguments);
    }

    [Fact]
    public void A_worker_joins_the_head_and_leaves_the_temp_dir_to_it()
    {
        var command = RayStartCommand.For(Head() with { IsHead = false, AgentPort = 23010, CpuMillis = 1500 });
        Assert.Equal(
            ["start", "--address=127.0.0.1:23000", "--block", "--node-ip-address=127.0.0.1", "--dashboard-agent-listen-port=23010",
             "--min-worker-port=0", "--max-worker-port=0", "--num-cpus=1", "--memory=8589934592", "--num-gpus=0"],
            command.Arguments);
    }

    // Issue 9 point 5: Ray is told the whole cores rounded down, never more than the queue accounts (0.5 here), the same
    // number the Kubernetes provider writes instead of KubeRay's rounded-up CPU limit (pod.go ~1394-1397).
    [Theory]
    [InlineData(500L, "--num-cpus=0")]
    [InlineData(999L, "--num-cpus=0")]
    [InlineData(2500L, "--num-cpus=2")]
    public void A_node_tells_Ray_its_whole_cores_rounded_down_even_below_one_core(long cpuMillis, string expected)
    {
        var command = RayStartCommand.For(Head(cpuMillis: cpuMillis));
        Assert.Equal([expected], command.Arguments.Where(a => a.StartsWith("--num-cpus", StringComparison.Ordinal)));
    }

    // Issue 9 point 7: no shell runs the local command, so quotes are taken off by the API's parser and a flag and its
    // value travel as one argv element, as bash makes of KubeRay's command line (pod.go ~1518, util.go ~1005).
    [Fact]
    public void Quoted_values_and_space_separated_values_become_one_argv_element_each()
    {
        var command = RayStartCommand.For(Head("--resources='{\"x\": 1}' --include-dashboard false --node-name \"a b\" --disable-usage-stats=false"));
        Assert.Equal(["--resources={\"x\": 1}", "--include-dashboard=false", "--node-name=a b"], command.Arguments.TakeLast(3));
        Assert.DoesNotContain(command.Arguments, a => a.Contains("disable-usage-stats", StringComparison.Ordinal));
        Assert.Equal("{\"x\": 1}", command.Value("--resources"));
    }

    [Fact]
    public void A_flag_in_rayStartParams_replaces_Rayfleets_value_and_is_passed_once()
    {
        var command = RayStartCommand.For(Head("--num-cpus=0  --dashboard-port=8265\n--disable-usage-stats --include-dashboard=false"));
        Assert.Equal(["--num-cpus=0"], command.Arguments.Where(a => a.StartsWith("--num-cpus", StringComparison.Ordinal)));
        Assert.Equal(["--dashboard-port=8265"], command.Arguments.Where(a => a.StartsWith("--dashboard-port", StringComparison.Ordinal)));
        Assert.Equal("--disable-usage-stats", command.Arguments[^2]);
        Assert.Equal(8265, command.IntValue("--dashboard-port"));
        Assert.Equal("false", command.Value("--include-dashboard"));
        Assert.True(command.Has("--disable-usage-stats"));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_ray_command_is_a_path_or_the_first_executable_on_PATH()
    {
        var dir = Directory.CreateTempSubdirectory("rf-path-").FullName;
        try
        {
            var notExecutable = Path.Combine(dir, "ray");
            File.WriteAllText(notExecutable, "#!/bin/sh\n");
            Assert.Null(RayStartCommand.Resolve("ray", dir));
            Assert.Null(RayStartCommand.Resolve(notExecutable, null));
            File.SetUnixFileMode(notExecutable, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            Assert.Equal(notExecutable, RayStartCommand.Resolve("ray", "/nonexistent:" + dir));
            Assert.Equal(notExecutable, RayStartCommand.Resolve(notExecutable, null));
            Assert.Null(RayStartCommand.Resolve("ray", "/nonexistent"));
            Assert.Null(RayStartCommand.Resolve("", dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Stat_lines_are_read_from_the_last_parenthesis_so_odd_process_names_do_not_shift_fields()
    {
        var stat = ProcFs.ParseStat("4242 (ray::) (Idle) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0");
        Assert.Equal(new ProcStat(4242, 'S', 1, 4242, 4242, 987654), stat);
        Assert.False(ProcFs.ParseStat("4242 (zombie) Z 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0")!.Value.IsAlive);
        Assert.Null(ProcFs.ParseStat("garbage"));

        var self = ProcFs.ReadStat(Environment.ProcessId)!.Value;
        Assert.True(ProcFs.IsSameProcess(Environment.ProcessId, self.StartTicks));
        Assert.False(ProcFs.IsSameProcess(Environment.ProcessId, self.StartTicks + 1)); // a recycled pid is another process
        Assert.InRange(ProcFs.StartTimeMs(self.StartTicks)!.Value, DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
    }

    [Fact]
    public void Machine_capacity_parsing_and_the_queue_it_sizes()
    {
        Assert.Equal(24576000L * 1024, MachineCapacity.ParseMemTotal("MemTotal:       24576000 kB"));
        Assert.Null(MachineCapacity.ParseMemTotal("MemFree:        1000 kB"));
        Assert.Equal(4, MachineCapacity.ParseGpuCount("4\n4\n4\n4\n"));
        Assert.Equal(0, MachineCapacity.ParseGpuCount(""));
        // min(cores, GiB / 4): neither cores nor memory is overcommitted.
        Assert.Equal(4m, new FakeMachine(8, 16L << 30, 0).QueueCu());
        Assert.Equal(2m, new FakeMachine(2, 23L << 30, 0).QueueCu());
        Assert.Equal(0.5m, new FakeMachine(4, 2L << 30, 0).QueueCu());

        var real = new MachineCapacity();
        Assert.Equal(Environment.ProcessorCount, real.Cores);
        Assert.True(real.MemoryBytes > 0);
        Assert.True(real.Gpus >= 0);
    }

    [Fact]
    public void The_temp_root_is_short_enough_for_rays_unix_sockets_or_the_service_does_not_start()
    {
        var o = new LocalProviderOptions();
        Assert.Equal("/srv/rf/local/tmp", o.EffectiveTempRoot("/srv/rf"));
        var longData = "/var/lib/a-rather-long-folder-name/rayfleet/data";
        Assert.StartsWith(Path.Combine(Path.GetTempPath(), "rayfleet-"), o.EffectiveTempRoot(longData), StringComparison.Ordinal);
        Assert.True(o.EffectiveTempRoot(longData).Length <= LocalProviderOptions.MaxTempRootLength);

        var validator = new LocalProviderOptionsValidator();
        Assert.True(validator.Validate(null, new RayfleetOptions { DataDirectory = longData }).Succeeded);
        var broken = new RayfleetOptions
        {
            DataDirectory = "/srv/rf",
            Local = new LocalProviderOptions
            {
                TempRoot = "/var/tmp/this-temp-root-is-far-too-long-for-sockets",
                PortRangeStart = 23000, PortRangeEnd = 23001, DashboardHost = "not a host",
                WorkerRestartBackoffBase = TimeSpan.FromSeconds(5), WorkerRestartBackoffMax = TimeSpan.FromSeconds(1),
                SupervisionInterval = TimeSpan.Zero,
            },
        };
        var failures = validator.Validate(null, broken).Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Local:TempRoot", StringComparison.Ordinal) && f.Contains("107", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Local:PortRangeEnd", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Local:DashboardHost", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Local:WorkerRestartBackoffBase", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Local:SupervisionInterval", StringComparison.Ordinal));
    }

    [Fact]
    public void Ports_held_in_any_state_file_are_never_handed_out_again_until_that_instance_stops()
    {
        var dir = Directory.CreateTempSubdirectory("rf-ports-").FullName;
        try
        {
            var options = new LocalProviderOptions { PortRangeStart = 26100, PortRangeEnd = 26109 };
            var paths = new LocalPaths(dir, "/tmp/unused");
            var store = new LocalStateStore(paths);
            LocalInstanceState New(string id) => new() { InstanceId = id, ClusterId = "ray-x", TempDir = "/tmp/unused" };

            var a = New("ray-a-00000001");
            var aPorts = new PortAllocator(options, store).AllocateAndSave(a, 4, p => a.Ports = new HeadPorts(p[0], p[1], p[2]))!;
            // Another allocator, as after a restart of the service: it learns what is held from the files.
            var b = New("ray-b-00000001");
            var bPorts = new PortAllocator(options, store).AllocateAndSave(b, 3, p => b.Ports = new HeadPorts(p[0], p[1], p[2]))!;
            Assert.Empty(aPorts.Take(3).Intersect(bPorts));
            Assert.Null(new PortAllocator(options, store).AllocateAndSave(New("ray-c-00000001"), 5, _ => { })); // 10 - 6 held

            a.Stopped = true; // a stopped instance holds no ports
            store.Save(a);
            Assert.NotNull(new PortAllocator(options, store).AllocateAndSave(New("ray-c-00000001"), 5, _ => { }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_stand_in_rejects_what_ray_start_rejects_with_exit_code_2()
    {
        foreach (var args in new[] { new[] { "start", "--no-such-flag" }, ["start", "--num-cpus=two"], ["start", "--head=yes"], ["stop"], ["start", "--port"] })
        {
            var start = new ProcessStartInfo(LocalSetup.StandIn) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) start.ArgumentList.Add(a);
            using var process = Process.Start(start)!;
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.Equal(2, process.ExitCode);
            Assert.Contains("not Ray", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_the_local_provider_as_the_default_the_default_queue_is_this_machine_unless_configured()
    {
        var machine = new FakeMachine(8, 16L << 30, 2);
        void Fake(IServiceCollection s)
        {
            s.RemoveAll<IMachineCapacity>();
            s.AddSingleton<IMachineCapacity>(machine);
        }
        var unset = new Dictionary<string, string?> { ["Rayfleet:DefaultProvider"] = "local", ["Rayfleet:DefaultQueueCu"] = null, ["Rayfleet:DefaultQueueGpu"] = null };
        using (var host = new RayfleetHost(settings: unset, services: Fake))
        {
            var api = host.Api();
            var ws = await api.DefaultWorkspaceAsync();
            var queue = (await api.GetAsync($"/api/v1/workspaces/{ws}/queues")).EnsureOk().Json["queues"]![0]!;
            Assert.Equal("4", System.Text.Json.Nodes.JsonNode.Parse(queue["maxResource"]!.GetValue<string>())!["cu"]!.GetValue<string>());
            Assert.Equal("2", System.Text.Json.Nodes.JsonNode.Parse(queue["maxResource"]!.GetValue<string>())!["gpu"]!.GetValue<string>());
        }

        Assert.Equal((10m, 1), DatabaseInitializer.DefaultQueueCapacity(new RayfleetOptions { DefaultProvider = "local", DefaultQueueCu = 10, DefaultQueueGpu = 1 }, machine));
        Assert.Equal((64m, 8), DatabaseInitializer.DefaultQueueCapacity(new RayfleetOptions { DefaultProvider = "simulated" }, machine));
        Assert.Equal((4m, 2), DatabaseInitializer.DefaultQueueCapacity(new RayfleetOptions(), machine)); // local is the default
    }

    private sealed record FakeMachine(int Cores, long MemoryBytes, int Gpus) : IMachineCapacity;
}
