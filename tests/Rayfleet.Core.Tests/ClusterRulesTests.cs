using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

public class ClusterRulesTests
{
    private readonly FakeCatalog _catalog = new();

    private IReadOnlyList<Problem> Problems(RayClusterRequest request)
    {
        var (spec, problems) = ClusterRules.Validate(request, _catalog);
        if (problems.Count > 0) Assert.Null(spec);
        return problems;
    }

    /// <summary>Exactly one problem, with the given code and field, whose message names the field.</summary>
    private Problem SingleProblem(RayClusterRequest request, string code, string field)
    {
        var problems = Problems(request);
        var problem = Assert.Single(problems);
        Assert.Equal(code, problem.Code);
        Assert.Equal(field, problem.Field);
        Assert.Contains(field, problem.Message);
        Assert.Equal(400, problem.Status);
        return problem;
    }

    private ClusterSpec Accepted(RayClusterRequest request)
    {
        var (spec, problems) = ClusterRules.Validate(request, _catalog);
        Assert.Empty(problems);
        Assert.NotNull(spec);
        return spec;
    }

    private static RayClusterRequest WithWorker(WorkerSpecDto worker, bool autoscaling = false) =>
        Requests.Valid(worker) with { HeadSpec = Requests.Head() with { EnableAutoScaling = autoscaling } };

    // ---- valid requests and defaults ----

    [Fact]
    public void A_minimal_valid_request_becomes_a_spec_with_defaults()
    {
        var spec = Accepted(new RayClusterRequest { Name = "c", HeadSpec = Requests.Head() });

        Assert.Equal("c", spec.Name);
        Assert.Null(spec.Description);
        Assert.Equal("EMR-Ray-2.40.0", spec.DisplayReleaseVersion);
        Assert.Equal("2", spec.Head.Cpu);
        Assert.Equal("8Gi", spec.Head.Memory);
        Assert.Equal("root_queue", spec.Head.QueueName);
        Assert.Equal(60, spec.Head.IdleTimeoutSeconds);
        Assert.False(spec.Head.EnableAutoScaling);
        Assert.Empty(spec.Workers);
        Assert.Empty(spec.VolumeIds);
    }

    [Fact]
    public void Release_version_defaults_to_the_catalogue_default()
    {
        var catalog = new FakeCatalog { DefaultReleaseVersion = "EMR-Ray-2.30.0" };

        var (spec, problems) = ClusterRules.Validate(new RayClusterRequest { Name = "c", HeadSpec = Requests.Head() }, catalog);

        Assert.Empty(problems);
        Assert.Equal("EMR-Ray-2.30.0", spec!.DisplayReleaseVersion);
    }

    [Fact]
    public void Worker_defaults_are_cpu_root_queue_min_1_and_max_of_replica_and_min()
    {
        var spec = Accepted(Requests.Valid(new WorkerSpecDto { GroupName = "g", Cpu = "1", Memory = "4Gi", Replica = 3 }));

        var group = Assert.Single(spec.Workers);
        Assert.Equal("g", group.GroupName);
        Assert.Equal("CPU", group.WorkerType);
        Assert.Equal("root_queue", group.QueueName);
        Assert.Equal(3, group.Replica);
        Assert.Equal(1, group.MinReplica);
        Assert.Equal(3, group.MaxReplica);
    }

    [Fact]
    public void Worker_replica_defaults_to_1()
    {
        var spec = Accepted(Requests.Valid(new WorkerSpecDto { GroupName = "g", Cpu = "1", Memory = "4Gi" }));

        var group = Assert.Single(spec.Workers);
        Assert.Equal(1, group.Replica);
        Assert.Equal(1, group.MinReplica);
        Assert.Equal(1, group.MaxReplica);
    }

    [Fact]
    public void Default_max_replica_follows_a_min_replica_above_replica()
    {
        var spec = Accepted(Requests.Valid(new WorkerSpecDto { GroupName = "g", Cpu = "1", Memory = "4Gi", Replica = 2, MinReplica = 5 }));

        Assert.Equal(5, spec.Workers[0].MaxReplica);
    }

    [Fact]
    public void A_full_request_is_echoed_into_the_spec_as_sent()
    {
        var request = new RayClusterRequest
        {
            Name = "full",
            Description = "desc",
            DisplayReleaseVersion = "EMR-Ray-2.30.0",
            NetworkServiceName = "ns-main",
            ExtraParam = "{\"a\":1}",
            VolumeIds = ["vol-0123456789abcdef"],
            HeadSpec = new HeadSpecDto
            {
                Cpu = "500m",
                Memory = "512Mi",
                QueueName = "dev",
                EnableAutoScaling = true,
                IdleTimeoutSeconds = 120,
                GpuSpec = "ecs.gn7i-c8g1.2xlarge",
                DisplayReleaseVersion = "EMR-Ray-2.30.0",
                Env = "A=1\nB=2",
                RayStartParams = "--num-cpus=0",
                GftEnabled = true,
                GftConfig = new GftConfigDto { RedisUrl = "redis://r:6379", RedisUsername = "u", RedisPassword = "p" },
            },
            WorkerSpec =
            [
                new WorkerSpecDto
                {
                    GroupName = "WorkerGroup1", WorkerType = "gpu", GpuSpec = "ecs.gn7-8x", Cpu = "8", Memory = "32G",
                    Replica = 2, MinReplica = 1, MaxReplica = 4, QueueName = "dev", Env = "X=y", RayStartParams = "--foo",
                    DisplayReleaseVersion = "EMR-Ray-2.40.0",
                },
            ],
        };

        var spec = Accepted(request);

        Assert.Equal("full", spec.Name);
        Assert.Equal("desc", spec.Description);
        Assert.Equal("EMR-Ray-2.30.0", spec.DisplayReleaseVersion);
        Assert.Equal("ns-main", spec.NetworkServiceName);
        Assert.Equal("{\"a\":1}", spec.ExtraParam);
        Assert.Equal(["vol-0123456789abcdef"], spec.VolumeIds);
        Assert.Equal("500m", spec.Head.Cpu);
        Assert.Equal("512Mi", spec.Head.Memory);
        Assert.Equal("dev", spec.Head.QueueName);
        Assert.True(spec.Head.EnableAutoScaling);
        Assert.Equal(120, spec.Head.IdleTimeoutSeconds);
        Assert.Equal("ecs.gn7i-c8g1.2xlarge", spec.Head.GpuSpec);
        Assert.Equal("A=1\nB=2", spec.Head.Env);
        Assert.Equal("--num-cpus=0", spec.Head.RayStartParams);
        Assert.Equal(true, spec.Head.GftEnabled);
        Assert.Equal(new GftSettings("redis://r:6379", "u", "p"), spec.Head.GftConfig);
        var group = Assert.Single(spec.Workers);
        Assert.Equal("WorkerGroup1", group.GroupName);
        Assert.Equal("gpu", group.WorkerType);
        Assert.Equal("ecs.gn7-8x", group.GpuSpec);
        Assert.Equal("32G", group.Memory);
        Assert.Equal((2, 1, 4), (group.Replica, group.MinReplica, group.MaxReplica));
        Assert.Equal("dev", group.QueueName);
        Assert.Equal("X=y", group.Env);
        Assert.Equal("--foo", group.RayStartParams);
        Assert.Equal("EMR-Ray-2.40.0", group.DisplayReleaseVersion);
    }

    // ---- required values ----

    [Fact]
    public void Missing_name_is_reported_as_MissingParameter_name()
    {
        var p = SingleProblem(Requests.Valid() with { Name = null }, "MissingParameter.name", "name");
        Assert.Equal("name is required.", p.Message);
    }

    [Fact]
    public void Missing_head_spec_is_reported_as_MissingParameter_headSpec()
    {
        SingleProblem(Requests.Valid() with { HeadSpec = null }, "MissingParameter.headSpec", "headSpec");
    }

    [Fact]
    public void Missing_head_cpu_is_reported_as_MissingParameter_headSpec_cpu()
    {
        SingleProblem(Requests.Valid() with { HeadSpec = new HeadSpecDto { Memory = "8Gi" } }, "MissingParameter.headSpec.cpu", "headSpec.cpu");
    }

    [Fact]
    public void Missing_head_memory_is_reported_as_MissingParameter_headSpec_memory()
    {
        SingleProblem(Requests.Valid() with { HeadSpec = new HeadSpecDto { Cpu = "2" } }, "MissingParameter.headSpec.memory", "headSpec.memory");
    }

    [Fact]
    public void Head_without_cpu_and_memory_reports_both()
    {
        var problems = Problems(Requests.Valid() with { HeadSpec = new HeadSpecDto() });

        Assert.Equal(["MissingParameter.headSpec.cpu", "MissingParameter.headSpec.memory"], problems.Select(p => p.Code).ToArray());
    }

    // ---- name and description ----

    [Fact]
    public void Name_of_64_characters_is_accepted()
    {
        Assert.Equal(new string('n', 64), Accepted(Requests.Valid() with { Name = new string('n', 64) }).Name);
    }

    [Fact]
    public void Name_longer_than_64_characters_is_rejected()
    {
        var p = SingleProblem(Requests.Valid() with { Name = new string('n', 65) }, ErrorCodes.InvalidParameter, "name");
        Assert.Contains("64", p.Message);
    }

    [Fact]
    public void Empty_name_is_rejected()
    {
        SingleProblem(Requests.Valid() with { Name = "" }, ErrorCodes.InvalidParameter, "name");
    }

    [Theory]
    [InlineData("bad\nname")]
    [InlineData("bad\tname")]
    [InlineData("bad\u0000name")]
    [InlineData("bad\u007fname")]
    public void Name_with_control_characters_is_rejected(string name)
    {
        var p = SingleProblem(Requests.Valid() with { Name = name }, ErrorCodes.InvalidParameter, "name");
        Assert.Contains("control", p.Message);
    }

    [Fact]
    public void Name_with_spaces_and_unicode_letters_is_accepted()
    {
        Assert.Equal("Mein Cluster é", Accepted(Requests.Valid() with { Name = "Mein Cluster é" }).Name);
    }

    [Fact]
    public void Description_of_256_characters_is_accepted()
    {
        Assert.Equal(256, Accepted(Requests.Valid() with { Description = new string('d', 256) }).Description!.Length);
    }

    [Fact]
    public void Description_longer_than_256_characters_is_rejected()
    {
        var p = SingleProblem(Requests.Valid() with { Description = new string('d', 257) }, ErrorCodes.InvalidParameter, "description");
        Assert.Contains("256", p.Message);
    }

    // ---- worker groups ----

    private static RayClusterRequest WithGroups(int count) =>
        Requests.Valid() with { WorkerSpec = [.. Enumerable.Range(1, count).Select(i => (WorkerSpecDto?)Requests.Worker($"g{i}", replica: 1))] };

    [Fact]
    public void Create_with_50_worker_groups_is_accepted()
    {
        Assert.Equal(50, Accepted(WithGroups(50)).Workers.Count);
    }

    [Fact]
    public void Create_with_51_worker_groups_is_rejected()
    {
        var p = SingleProblem(WithGroups(51), ErrorCodes.InvalidParameter, "workerSpec");
        Assert.Contains("50", p.Message);
        Assert.Contains("51", p.Message);
    }

    [Fact]
    public void A_null_worker_group_entry_is_rejected_with_its_index()
    {
        var request = Requests.Valid() with { WorkerSpec = [Requests.Worker("a"), null] };

        SingleProblem(request, ErrorCodes.InvalidParameter, "workerSpec[1]");
    }

    [Fact]
    public void Missing_group_name_is_rejected()
    {
        SingleProblem(Requests.Valid(Requests.Worker() with { GroupName = null }), ErrorCodes.InvalidParameter, "workerSpec[0].groupName");
    }

    [Theory]
    [InlineData("")]
    [InlineData("1group")]
    [InlineData("-group")]
    [InlineData("group_1")]
    [InlineData("group 1")]
    [InlineData("group.1")]
    [InlineData("gröup")]
    public void Group_name_must_start_with_a_letter_and_use_letters_digits_and_dashes(string name)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(name)), ErrorCodes.InvalidParameter, "workerSpec[0].groupName");
        Assert.Contains("starting with a letter", p.Message);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("WorkerGroup1")]
    [InlineData("gpu-workers-2")]
    [InlineData("a--b")]
    [InlineData("Z9")]
    public void Group_names_of_letters_digits_and_dashes_are_accepted_as_sent(string name)
    {
        Assert.Equal(name, Accepted(Requests.Valid(Requests.Worker(name))).Workers[0].GroupName);
    }

    // KubeRay v1.7.0 ray-operator/controllers/ray/common/pod.go:1172 (labelPod) copies the group name into the pod label
    // ray.io/group; a label value must end with an alphanumeric character, and neither the CRD nor KubeRay's validation
    // checks it, so a trailing '-' would only show up as pods that are never created.
    [Theory]
    [InlineData("abc-")]
    [InlineData("a-")]
    [InlineData("WorkerGroup1--")]
    [InlineData("g-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-")] // 40 characters
    public void Group_name_ending_in_a_dash_is_rejected_because_it_becomes_the_ray_io_group_label_value(string name)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(name)), ErrorCodes.InvalidParameter, "workerSpec[0].groupName");
        Assert.Contains("ending with a letter or digit", p.Message);
    }

    [Fact]
    public void Group_name_of_40_characters_is_accepted_and_41_rejected()
    {
        Accepted(Requests.Valid(Requests.Worker("g" + new string('x', 39))));
        SingleProblem(Requests.Valid(Requests.Worker("g" + new string('x', 40))), ErrorCodes.InvalidParameter, "workerSpec[0].groupName");
    }

    [Fact]
    public void Group_name_with_a_trailing_newline_is_rejected()
    {
        SingleProblem(Requests.Valid(Requests.Worker("group\n")), ErrorCodes.InvalidParameter, "workerSpec[0].groupName");
    }

    [Fact]
    public void Duplicate_group_names_are_rejected_ignoring_case()
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker("Workers"), Requests.Worker("other"), Requests.Worker("WORKERS")),
            ErrorCodes.InvalidParameter, "workerSpec[2].groupName");
        Assert.Contains("WORKERS", p.Message);
    }

    [Theory]
    [InlineData("CPU")]
    [InlineData("cpu")]
    [InlineData("Cpu")]
    public void Worker_type_cpu_is_case_insensitive(string type)
    {
        Assert.Equal(type, Accepted(Requests.Valid(Requests.Worker() with { WorkerType = type })).Workers[0].WorkerType);
    }

    [Theory]
    [InlineData("TPU")]
    [InlineData("")]
    [InlineData("CPU ")]
    public void Worker_type_other_than_cpu_or_gpu_is_rejected(string type)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker() with { WorkerType = type }), ErrorCodes.InvalidParameter, "workerSpec[0].workerType");
        Assert.Contains("CPU or GPU", p.Message);
    }

    [Fact]
    public void Gpu_worker_without_gpu_spec_is_rejected()
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker() with { WorkerType = "GPU" }), ErrorCodes.InvalidParameter, "workerSpec[0].gpuSpec");
        Assert.Contains("GPU", p.Message);
    }

    [Fact]
    public void Gpu_worker_with_a_catalogue_gpu_spec_is_accepted()
    {
        var spec = Accepted(Requests.Valid(Requests.Worker() with { WorkerType = "Gpu", GpuSpec = "ecs.gn7-8x" }));

        Assert.Equal("ecs.gn7-8x", spec.Workers[0].GpuSpec);
    }

    [Fact]
    public void Unknown_worker_gpu_spec_is_InvalidGpuSpec_NotFound()
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker() with { WorkerType = "GPU", GpuSpec = "ecs.nope" }),
            ErrorCodes.GpuSpecNotFound, "workerSpec[0].gpuSpec");
        Assert.Equal("InvalidGpuSpec.NotFound", p.Code);
        Assert.Contains("ecs.nope", p.Message);
    }

    [Fact]
    public void Unknown_head_gpu_spec_is_InvalidGpuSpec_NotFound()
    {
        SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { GpuSpec = "ecs.nope" } },
            "InvalidGpuSpec.NotFound", "headSpec.gpuSpec");
    }

    [Theory]
    [InlineData("0", "workerSpec[0].cpu")]
    [InlineData("abc", "workerSpec[0].cpu")]
    public void Invalid_worker_cpu_names_the_field(string cpu, string field)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(cpu: cpu)), ErrorCodes.InvalidParameter, field);
        Assert.Contains($"'{cpu}'", p.Message);
    }

    [Fact]
    public void Invalid_memory_of_the_third_group_names_workerSpec_2_memory()
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker("a"), Requests.Worker("b"), Requests.Worker("c", memory: "0Gi")),
            ErrorCodes.InvalidParameter, "workerSpec[2].memory");
        Assert.Contains("'0Gi'", p.Message);
    }

    [Fact]
    public void Missing_worker_cpu_and_memory_are_rejected()
    {
        var problems = Problems(Requests.Valid(new WorkerSpecDto { GroupName = "g" }));

        Assert.Equal(["workerSpec[0].cpu", "workerSpec[0].memory"], problems.Select(p => p.Field).ToArray());
        Assert.All(problems, p => Assert.Equal(ErrorCodes.InvalidParameter, p.Code));
    }

    [Theory]
    [InlineData("0", "headSpec.cpu")]
    [InlineData("-1", "headSpec.cpu")]
    [InlineData("NaN", "headSpec.cpu")]
    [InlineData("", "headSpec.cpu")]
    public void Invalid_head_cpu_is_InvalidParameter_naming_headSpec_cpu(string cpu, string field)
    {
        SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head(cpu: cpu) }, ErrorCodes.InvalidParameter, field);
    }

    [Theory]
    [InlineData("0Gi")]
    [InlineData("-1Gi")]
    [InlineData("1.2.3")]
    public void Invalid_head_memory_is_InvalidParameter_naming_headSpec_memory(string memory)
    {
        SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head(memory: memory) }, ErrorCodes.InvalidParameter, "headSpec.memory");
    }

    // ---- replicas ----

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Replica_below_1_is_rejected(int replica)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(replica: replica) with { MaxReplica = 5 }),
            ErrorCodes.InvalidParameter, "workerSpec[0].replica");
        Assert.Contains("at least 1", p.Message);
    }

    [Fact]
    public void Min_replica_below_1_is_rejected()
    {
        SingleProblem(Requests.Valid(Requests.Worker() with { MinReplica = 0 }), ErrorCodes.InvalidParameter, "workerSpec[0].minReplica");
    }

    [Fact]
    public void Min_replica_above_max_replica_is_rejected()
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(replica: 3) with { MinReplica = 4, MaxReplica = 3 }),
            ErrorCodes.InvalidParameter, "workerSpec[0].minReplica");
        Assert.Contains("maxReplica", p.Message);
    }

    [Fact]
    public void Without_autoscaling_replica_outside_min_and_max_is_allowed()
    {
        var spec = Accepted(WithWorker(Requests.Worker(replica: 7) with { MinReplica = 1, MaxReplica = 3 }));

        Assert.Equal(7, spec.Workers[0].Replica);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public void With_autoscaling_replica_outside_min_and_max_is_rejected(int replica)
    {
        var p = SingleProblem(WithWorker(Requests.Worker(replica: replica) with { MinReplica = 2, MaxReplica = 4 }, autoscaling: true),
            ErrorCodes.InvalidParameter, "workerSpec[0].replica");
        Assert.Contains("minReplica (2)", p.Message);
        Assert.Contains("maxReplica (4)", p.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void With_autoscaling_replica_within_min_and_max_is_accepted(int replica)
    {
        var spec = Accepted(WithWorker(Requests.Worker(replica: replica) with { MinReplica = 2, MaxReplica = 4 }, autoscaling: true));

        Assert.True(spec.Head.EnableAutoScaling);
        Assert.Equal(replica, spec.Workers[0].Replica);
    }

    // ---- idle timeout ----

    [Theory]
    [InlineData(9)]
    [InlineData(86401)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Idle_timeout_outside_10_to_86400_is_rejected(int seconds)
    {
        var p = SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { IdleTimeoutSeconds = seconds } },
            ErrorCodes.InvalidParameter, "headSpec.idleTimeoutSeconds");
        Assert.Contains("10", p.Message);
        Assert.Contains("86400", p.Message);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(86400)]
    public void Idle_timeout_at_the_bounds_is_accepted(int seconds)
    {
        var spec = Accepted(Requests.Valid() with { HeadSpec = Requests.Head() with { IdleTimeoutSeconds = seconds } });

        Assert.Equal(seconds, spec.Head.IdleTimeoutSeconds);
    }

    // ---- env ----

    [Theory]
    [InlineData("A=1")]
    [InlineData("A=1\nB_2=two words\n")]
    [InlineData("_X=\r\nPATH=/bin:/usr/bin")]
    [InlineData("A=b=c")]
    [InlineData("")]
    public void Env_of_key_value_lines_is_accepted(string env)
    {
        Assert.Equal(env, Accepted(Requests.Valid() with { HeadSpec = Requests.Head() with { Env = env } }).Head.Env);
    }

    [Theory]
    [InlineData("NOEQUALS", 1)]
    [InlineData("=value", 1)]
    [InlineData("A=1\n1A=2", 2)]
    [InlineData("A=1\nMY-VAR=2", 2)]
    [InlineData("A B=1", 1)]
    public void Env_with_a_bad_line_is_rejected_naming_the_line(string env, int line)
    {
        var p = SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { Env = env } },
            ErrorCodes.InvalidParameter, "headSpec.env");
        Assert.Contains($"line {line}", p.Message);
    }

    [Fact]
    public void Worker_env_with_a_bad_line_names_the_group()
    {
        SingleProblem(Requests.Valid(Requests.Worker() with { Env = "oops" }), ErrorCodes.InvalidParameter, "workerSpec[0].env");
    }

    [Fact]
    public void ParseEnv_returns_lines_in_order_and_splits_at_the_first_equals()
    {
        var env = ClusterRules.ParseEnv("A=1\r\nB=x=y\n\nC=");

        Assert.Equal(
            [new KeyValuePair<string, string>("A", "1"), new("B", "x=y"), new("C", "")],
            env);
    }

    // ---- rayStartParams ----

    [Theory]
    [InlineData("--address=1.2.3.4:6379", "--address")]
    [InlineData("--address", "--address")]
    [InlineData("--num-cpus=1 --port=6380", "--port")]
    [InlineData("--head", "--head")]
    [InlineData("--block", "--block")]
    public void Ray_start_flags_that_rayfleet_owns_are_rejected(string parameters, string flag)
    {
        var p = SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { RayStartParams = parameters } },
            ErrorCodes.InvalidParameter, "headSpec.rayStartParams");
        Assert.Contains(flag, p.Message);
    }

    [Theory]
    [InlineData("num-cpus=1")]
    [InlineData("-n")]
    [InlineData("--")]
    [InlineData("--=1")]
    public void Ray_start_params_that_are_not_flag_tokens_are_rejected(string parameters)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker() with { RayStartParams = parameters }),
            ErrorCodes.InvalidParameter, "workerSpec[0].rayStartParams");
        Assert.Contains("--flag", p.Message);
    }

    [Theory]
    [InlineData("--num-cpus=0 --num-gpus=0")]
    [InlineData("--dashboard-host=0.0.0.0\t--include-dashboard=false")]
    [InlineData("--resources='{\"x\":1}'")]
    [InlineData("--num-cpus 2 --node-name 'my node'")]
    [InlineData("")]
    public void Ray_start_flag_tokens_are_accepted(string parameters)
    {
        var spec = Accepted(Requests.Valid() with { HeadSpec = Requests.Head() with { RayStartParams = parameters } });

        Assert.Equal(parameters, spec.Head.RayStartParams);
    }

    // Issue 9 point 7: KubeRay runs these through /bin/bash -c (util.go ~1005, pod.go ~1518 convertParamMap) and the local
    // provider without a shell; each of these meant something different on the two, and is now refused at Create.
    [Theory]
    [InlineData("--include-dashboard", "takes a value")]
    [InlineData("--include-dashboard --disable-usage-stats", "takes a value")]
    [InlineData("--resources={\"x\":1}", "JSON object")]
    [InlineData("--node-name=$HOSTNAME", "nothing is expanded")]
    [InlineData("--node-name=\"$HOSTNAME\"", "nothing is expanded")]
    [InlineData("--temp-dir='/tmp/a", "closing")]
    [InlineData("--disable-usage-stats=yes", "is a switch")]
    [InlineData("--my-flag value", "does not know whether --my-flag takes a value")]
    [InlineData("--num-cpus=1 --num-cpus=2", "given twice")]
    [InlineData("--num-cpus=1.5", "whole number")]
    [InlineData("--redis-password='p w'", "--redis-password")]
    public void Ray_start_params_without_one_meaning_on_every_provider_are_rejected(string parameters, string reason)
    {
        var p = SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { RayStartParams = parameters } },
            ErrorCodes.InvalidParameter, "headSpec.rayStartParams");
        Assert.Contains(reason, p.Message);
    }

    // Issue 9 point 5: Ray's --num-cpus is an int (ray start, type=int); Ray must not schedule more CPUs than the queue
    // accounts for the node, which KubeRay's own rounding up of the CPU limit would do (pod.go ~1394-1397).
    [Theory]
    [InlineData("2", "--num-cpus=3")]
    [InlineData("2500m", "--num-cpus=3")]
    [InlineData("0.5", "--num-cpus=1")]
    public void Num_cpus_above_the_whole_cores_of_cpu_is_rejected(string cpu, string parameters)
    {
        var p = SingleProblem(Requests.Valid(Requests.Worker(cpu: cpu) with { RayStartParams = parameters }),
            ErrorCodes.InvalidParameter, "workerSpec[0].rayStartParams");
        Assert.Contains("whole cores", p.Message);
    }

    [Theory]
    [InlineData("2500m", "--num-cpus=2")]
    [InlineData("0.5", "--num-cpus=0")]
    public void Num_cpus_up_to_the_whole_cores_of_cpu_is_accepted(string cpu, string parameters) =>
        Accepted(Requests.Valid(Requests.Worker(cpu: cpu) with { RayStartParams = parameters }));

    // ---- extraParam ----

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"a\":")]
    [InlineData("")]
    public void Extra_param_that_is_not_json_is_rejected(string extra)
    {
        SingleProblem(Requests.Valid() with { ExtraParam = extra }, ErrorCodes.InvalidParameter, "extraParam");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"k\":[1,2]}")]
    [InlineData("[1]")]
    public void Extra_param_that_is_json_is_accepted(string extra)
    {
        Assert.Equal(extra, Accepted(Requests.Valid() with { ExtraParam = extra }).ExtraParam);
    }

    // ---- references into the workspace and catalogues ----

    [Fact]
    public void Unknown_head_queue_is_InvalidQueue_NotFound()
    {
        var p = SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { QueueName = "nope" } },
            "InvalidQueue.NotFound", "headSpec.queueName");
        Assert.Contains("'nope'", p.Message);
    }

    [Fact]
    public void Unknown_worker_queue_is_InvalidQueue_NotFound()
    {
        SingleProblem(Requests.Valid(Requests.Worker() with { QueueName = "nope" }), "InvalidQueue.NotFound", "workerSpec[0].queueName");
    }

    [Fact]
    public void Default_queue_must_exist_too()
    {
        var catalog = new FakeCatalog { Queues = ["dev"] };

        var (spec, problems) = ClusterRules.Validate(new RayClusterRequest { Name = "c", HeadSpec = Requests.Head() }, catalog);

        Assert.Null(spec);
        var p = Assert.Single(problems);
        Assert.Equal("InvalidQueue.NotFound", p.Code);
        Assert.Contains("root_queue", p.Message);
    }

    [Fact]
    public void Unknown_release_version_is_InvalidReleaseVersion_NotFound()
    {
        var p = SingleProblem(Requests.Valid() with { DisplayReleaseVersion = "EMR-Ray-0.0.1" },
            "InvalidReleaseVersion.NotFound", "displayReleaseVersion");
        Assert.Contains("EMR-Ray-0.0.1", p.Message);
    }

    [Fact]
    public void Unknown_group_release_version_is_InvalidReleaseVersion_NotFound()
    {
        SingleProblem(Requests.Valid(Requests.Worker() with { DisplayReleaseVersion = "x" }),
            "InvalidReleaseVersion.NotFound", "workerSpec[0].displayReleaseVersion");
        SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { DisplayReleaseVersion = "x" } },
            "InvalidReleaseVersion.NotFound", "headSpec.displayReleaseVersion");
    }

    [Fact]
    public void Unknown_network_service_is_InvalidNetworkService_NotFound()
    {
        var p = SingleProblem(Requests.Valid() with { NetworkServiceName = "ns-other" },
            "InvalidNetworkService.NotFound", "networkServiceName");
        Assert.Contains("ns-other", p.Message);
    }

    [Fact]
    public void Unknown_volume_is_InvalidVolume_NotFound_naming_its_index()
    {
        var p = SingleProblem(Requests.Valid() with { VolumeIds = ["vol-0123456789abcdef", "vol-ffffffffffffffff"] },
            "InvalidVolume.NotFound", "volumeIds[1]");
        Assert.Contains("vol-ffffffffffffffff", p.Message);
    }

    [Fact]
    public void Volume_listed_twice_is_rejected()
    {
        SingleProblem(Requests.Valid() with { VolumeIds = ["vol-0123456789abcdef", "vol-0123456789abcdef"] },
            ErrorCodes.InvalidParameter, "volumeIds[1]");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Empty_volume_id_is_rejected(string? id)
    {
        SingleProblem(Requests.Valid() with { VolumeIds = [id] }, ErrorCodes.InvalidParameter, "volumeIds[0]");
    }

    // ---- gft ----

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Gft_enabled_without_redis_url_is_rejected(string? url)
    {
        var request = Requests.Valid() with
        {
            HeadSpec = Requests.Head() with { GftEnabled = true, GftConfig = new GftConfigDto { RedisUrl = url } },
        };

        SingleProblem(request, ErrorCodes.InvalidParameter, "headSpec.gftConfig.redisUrl");
    }

    [Fact]
    public void Gft_enabled_without_any_gft_config_is_rejected()
    {
        SingleProblem(Requests.Valid() with { HeadSpec = Requests.Head() with { GftEnabled = true } },
            ErrorCodes.InvalidParameter, "headSpec.gftConfig.redisUrl");
    }

    [Fact]
    public void Gft_disabled_needs_no_redis_url()
    {
        Accepted(Requests.Valid() with { HeadSpec = Requests.Head() with { GftEnabled = false } });
    }

    // ---- several problems at once ----

    [Fact]
    public void Every_broken_rule_is_reported_at_once()
    {
        var request = new RayClusterRequest
        {
            Name = new string('n', 65),
            Description = new string('d', 300),
            DisplayReleaseVersion = "nope",
            NetworkServiceName = "nope",
            ExtraParam = "{",
            VolumeIds = ["vol-missing"],
            HeadSpec = new HeadSpecDto
            {
                Cpu = "0",
                QueueName = "nope",
                IdleTimeoutSeconds = 9,
                GpuSpec = "nope",
                Env = "bad",
                RayStartParams = "--head",
                GftEnabled = true,
            },
            WorkerSpec =
            [
                new WorkerSpecDto { GroupName = "1bad", Cpu = "1", Memory = "4Gi" },
                new WorkerSpecDto { GroupName = "ok", WorkerType = "TPU", Cpu = "1", Memory = "4Gi", Replica = 0 },
            ],
        };

        var problems = Problems(request);

        Assert.Equal(
            new[]
            {
                ("name", "InvalidParameter"),
                ("description", "InvalidParameter"),
                ("displayReleaseVersion", "InvalidReleaseVersion.NotFound"),
                ("networkServiceName", "InvalidNetworkService.NotFound"),
                ("extraParam", "InvalidParameter"),
                ("volumeIds[0]", "InvalidVolume.NotFound"),
                ("headSpec.cpu", "InvalidParameter"),
                ("headSpec.memory", "MissingParameter.headSpec.memory"),
                ("headSpec.queueName", "InvalidQueue.NotFound"),
                ("headSpec.idleTimeoutSeconds", "InvalidParameter"),
                ("headSpec.gpuSpec", "InvalidGpuSpec.NotFound"),
                ("headSpec.env", "InvalidParameter"),
                ("headSpec.rayStartParams", "InvalidParameter"),
                ("headSpec.gftConfig.redisUrl", "InvalidParameter"),
                ("workerSpec[0].groupName", "InvalidParameter"),
                ("workerSpec[1].workerType", "InvalidParameter"),
                ("workerSpec[1].replica", "InvalidParameter"),
            },
            problems.Select(p => (p.Field, p.Code)).ToArray());
    }

    [Fact]
    public void Missing_name_and_missing_head_are_both_reported()
    {
        var problems = Problems(new RayClusterRequest());

        Assert.Equal(["MissingParameter.name", "MissingParameter.headSpec"], problems.Select(p => p.Code).ToArray());
    }

    [Fact]
    public void Problems_in_the_workers_are_reported_even_when_the_head_is_missing()
    {
        var problems = Problems(Requests.Valid(Requests.Worker("9x")) with { HeadSpec = null });

        Assert.Equal(["headSpec", "workerSpec[0].groupName"], problems.Select(p => p.Field).ToArray());
    }

    [Fact]
    public void SameGroup_compares_group_names_ignoring_case()
    {
        Assert.True(ClusterRules.SameGroup("WorkerGroup1", "workergroup1"));
        Assert.False(ClusterRules.SameGroup("a", "b"));
    }
}
