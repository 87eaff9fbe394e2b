using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Api;

/// <summary>CreateRayCluster and UpdateRayCluster request rules (semantics.md, Request rules and Errors), over HTTP.</summary>
public sealed class ValidationTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    private static async Task<RawResponse> CreateAsync(ApiClient api, string ws, JsonObject body) =>
        await api.RawPostAsync(Clusters(ws), body);

    private static async Task<JsonObject> CreateAndGetAsync(ApiClient api, string ws, JsonObject body)
    {
        var created = (await CreateAsync(api, ws, body)).EnsureOk();
        var id = created.Json["clusterId"]!.GetValue<string>();
        return (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Json;
    }

    private static async Task AssertRejectedAsync(JsonObject body, string code, string field)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertFieldError(await CreateAsync(api, ws, body), code, field);
        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json;
        Assert.Empty(list["rayClusters"]!.AsArray());
    }

    // MissingParameter

    [Theory]
    [InlineData("name")]
    [InlineData("headSpec")]
    [InlineData("headSpec.cpu")]
    [InlineData("headSpec.memory")]
    public async Task Create_without_a_required_value_is_rejected_as_MissingParameter(string field) =>
        await AssertRejectedAsync(Bodies.Cluster().Without(field), "MissingParameter." + field, field);

    [Theory]
    [InlineData("name")]
    [InlineData("headSpec")]
    [InlineData("headSpec.cpu")]
    [InlineData("headSpec.memory")]
    public async Task Create_with_a_required_value_sent_as_null_is_rejected_as_MissingParameter(string field) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(field, "null"), "MissingParameter." + field, field);

    [Fact]
    public async Task Create_with_an_empty_body_is_rejected_naming_every_missing_value()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        foreach (var body in new[] { "", "{}" })
        {
            var json = AssertError(await api.RawPostAsync(Clusters(ws), body), HttpStatusCode.BadRequest, "MissingParameter.name", "name", "headSpec");
            var fields = json["Errors"]!.AsArray().Select(e => e!["Field"]!.GetValue<string>()).ToList();
            Assert.Equal(["name", "headSpec"], fields);
        }
    }

    // name and description

    [Theory]
    [InlineData(65)]
    [InlineData(200)]
    public async Task Name_longer_than_64_characters_is_rejected(int length) =>
        await AssertRejectedAsync(Bodies.Cluster(new string('n', length)), "InvalidParameter", "name");

    [Fact]
    public async Task Empty_name_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster(""), "InvalidParameter", "name");

    [Theory]
    [InlineData("bell\u0007")]
    [InlineData("two\nlines")]
    [InlineData("tab\there")]
    [InlineData("\u0000")]
    public async Task Name_with_a_control_character_is_rejected(string name) =>
        await AssertRejectedAsync(Bodies.Cluster(name), "InvalidParameter", "name");

    [Fact]
    public async Task Name_of_64_characters_with_spaces_and_unicode_is_accepted_and_echoed()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var name = "Ray cluster für Tests " + new string('x', 42);
        Assert.Equal(64, name.Length);
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster(name));
        Assert.Equal(name, cluster["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Description_longer_than_256_characters_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster().Set("description", $"\"{new string('d', 257)}\""), "InvalidParameter", "description");

    [Fact]
    public async Task Description_of_256_characters_is_accepted()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var description = new string('d', 256);
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster().Set("description", $"\"{description}\""));
        Assert.Equal(description, cluster["description"]!.GetValue<string>());
    }

    // cpu and memory

    [Theory]
    [InlineData("headSpec.cpu", "abc")]
    [InlineData("headSpec.cpu", "0")]
    [InlineData("headSpec.cpu", "0.0")]
    [InlineData("headSpec.cpu", "0m")]
    [InlineData("headSpec.cpu", "-1")]
    [InlineData("headSpec.cpu", "NaN")]
    [InlineData("headSpec.cpu", "Infinity")]
    [InlineData("headSpec.cpu", "")]
    [InlineData("headSpec.cpu", " ")]
    [InlineData("headSpec.cpu", "2Gi")]
    [InlineData("workerSpec[1].cpu", "two")]
    [InlineData("workerSpec[1].cpu", "0")]
    [InlineData("workerSpec[1].cpu", "-0.5")]
    [InlineData("workerSpec[1].cpu", "NaN")]
    public async Task Cpu_that_is_unparseable_zero_negative_or_NaN_is_rejected_naming_the_field(string field, string value) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(field, JsonValue.Create(value).ToJsonString()), "InvalidParameter", field);

    [Theory]
    [InlineData("headSpec.memory", "lots")]
    [InlineData("headSpec.memory", "0")]
    [InlineData("headSpec.memory", "0Gi")]
    [InlineData("headSpec.memory", "-8Gi")]
    [InlineData("headSpec.memory", "NaN")]
    [InlineData("headSpec.memory", "")]
    [InlineData("headSpec.memory", "8GB")]
    [InlineData("workerSpec[2].memory", "16 Gi")]
    [InlineData("workerSpec[2].memory", "0Mi")]
    [InlineData("workerSpec[2].memory", "-1")]
    [InlineData("workerSpec[2].memory", "NaN")]
    public async Task Memory_that_is_unparseable_zero_negative_or_NaN_is_rejected_naming_the_field(string field, string value) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(field, JsonValue.Create(value).ToJsonString()), "InvalidParameter", field);

    [Theory]
    [InlineData("workerSpec[1].cpu")]
    [InlineData("workerSpec[2].memory")]
    public async Task Worker_group_without_cpu_or_memory_is_rejected_naming_the_field(string field) =>
        await AssertRejectedAsync(Bodies.Cluster().Without(field), "InvalidParameter", field);

    [Theory]
    [InlineData("0.5", "512Mi")]
    [InlineData("500m", "8G")]
    [InlineData("2", "8Gi")]
    [InlineData("1.25", "1536Mi")]
    public async Task Cpu_and_memory_in_every_accepted_form_are_echoed_as_sent(string cpu, string memory)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Cluster();
        body["headSpec"]!["cpu"] = cpu;
        body["headSpec"]!["memory"] = memory;
        body["workerSpec"]![0]!["cpu"] = cpu;
        body["workerSpec"]![0]!["memory"] = memory;
        var cluster = await CreateAndGetAsync(api, ws, body);
        Assert.Equal(cpu, cluster["headSpec"]!["cpu"]!.GetValue<string>());
        Assert.Equal(memory, cluster["headSpec"]!["memory"]!.GetValue<string>());
        Assert.Equal(cpu, cluster["workerSpec"]![0]!["cpu"]!.GetValue<string>());
        Assert.Equal(memory, cluster["workerSpec"]![0]!["memory"]!.GetValue<string>());
    }

    // worker groups

    [Fact]
    public async Task Create_with_51_worker_groups_is_rejected()
    {
        var body = Bodies.Minimal();
        body["workerSpec"] = new JsonArray([.. Enumerable.Range(0, 51).Select(i => (JsonNode)Bodies.Group($"g{i}", cpu: "100m", memory: "128Mi"))]);
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertFieldError(await CreateAsync(api, ws, body), "InvalidParameter", "workerSpec");
    }

    [Fact]
    public async Task Create_with_50_worker_groups_is_accepted()
    {
        var body = Bodies.Minimal();
        body["workerSpec"] = new JsonArray([.. Enumerable.Range(0, 50).Select(i => (JsonNode)Bodies.Group($"g{i}", cpu: "100m", memory: "128Mi"))]);
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var cluster = await CreateAndGetAsync(api, ws, body);
        Assert.Equal(50, cluster["workerSpec"]!.AsArray().Count);
    }

    [Fact]
    public async Task Worker_group_without_a_groupName_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster().Without("workerSpec[1].groupName"), "InvalidParameter", "workerSpec[1].groupName");

    [Theory]
    [InlineData("")]
    [InlineData("1group")]
    [InlineData("-group")]
    [InlineData("under_score")]
    [InlineData("with space")]
    [InlineData("dot.ted")]
    [InlineData("grüppe")]
    [InlineData("g12345678901234567890123456789012345678901")] // 41 characters
    public async Task GroupName_that_breaks_the_naming_rule_is_rejected(string groupName) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("workerSpec[2].groupName", JsonValue.Create(groupName).ToJsonString()),
            "InvalidParameter", "workerSpec[2].groupName");

    // KubeRay v1.7.0 ray-operator/controllers/ray/common/pod.go:1172 puts the group name into the pod label ray.io/group,
    // and a label value cannot end in '-': KubeRay would accept the RayCluster and then fail to create its pods. The
    // rule holds on every provider, so a cluster keeps working when its workspace moves to Kubernetes.
    [Theory]
    [InlineData("abc-")]
    [InlineData("WorkerGroup1--")]
    public async Task GroupName_ending_in_a_dash_is_rejected_at_Create_as_it_is_not_a_label_value(string groupName)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var error = AssertFieldError(
            await CreateAsync(api, ws, Bodies.Cluster().Set("workerSpec[1].groupName", JsonValue.Create(groupName).ToJsonString())),
            "InvalidParameter", "workerSpec[1].groupName");
        Assert.Contains("ending with a letter or digit", error.ToJsonString(), StringComparison.Ordinal);
        Assert.Empty((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());
    }

    [Fact]
    public async Task GroupName_of_40_letters_digits_and_dashes_starting_with_a_letter_is_accepted_and_echoed_as_sent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var name = "WorkerGroup-1-" + new string('a', 26);
        Assert.Equal(40, name.Length);
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster().Set("workerSpec[0].groupName", JsonValue.Create(name).ToJsonString()));
        Assert.Equal(name, cluster["workerSpec"]![0]!["groupName"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("g0")]
    [InlineData("G0")]
    public async Task Duplicate_groupName_ignoring_case_is_rejected(string duplicate) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("workerSpec[2].groupName", JsonValue.Create(duplicate).ToJsonString()),
            "InvalidParameter", "workerSpec[2].groupName");

    [Theory]
    [InlineData("TPU")]
    [InlineData("")]
    [InlineData("CPU ")]
    public async Task Unknown_workerType_is_rejected(string workerType) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("workerSpec[1].workerType", JsonValue.Create(workerType).ToJsonString()),
            "InvalidParameter", "workerSpec[1].workerType");

    [Fact]
    public async Task WorkerType_is_case_insensitive_and_echoed_as_sent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Cluster()
            .Set("workerSpec[0].workerType", "\"cpu\"")
            .Set("workerSpec[1].workerType", "\"gpu\"")
            .Set("workerSpec[1].gpuSpec", "\"ecs.gn6i-c4g1.xlarge\"")
            .Set("workerSpec[2].workerType", "\"Gpu\"")
            .Set("workerSpec[2].gpuSpec", "\"ecs.gn7i-c8g1.2xlarge\"");
        var cluster = await CreateAndGetAsync(api, ws, body);
        Assert.Equal(["cpu", "gpu", "Gpu"], cluster["workerSpec"]!.AsArray().Select(w => w!["workerType"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Worker_type_defaults_to_CPU_when_absent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster().Without("workerSpec[0].workerType"));
        Assert.Equal("CPU", cluster["workerSpec"]![0]!["workerType"]!.GetValue<string>());
    }

    [Fact]
    public async Task GPU_worker_without_a_gpuSpec_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster().Set("workerSpec[1].workerType", "\"GPU\""), "InvalidParameter", "workerSpec[1].gpuSpec");

    // replicas

    [Theory]
    [InlineData("replica", 0)]
    [InlineData("replica", -1)]
    [InlineData("minReplica", 0)]
    [InlineData("minReplica", -3)]
    [InlineData("maxReplica", 0)]
    [InlineData("maxReplica", -1)]
    public async Task Replica_counts_below_one_are_rejected(string key, int value) =>
        await AssertRejectedAsync(Bodies.Cluster().Set($"workerSpec[1].{key}", value.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "InvalidParameter", $"workerSpec[1].{key}");

    [Fact]
    public async Task MinReplica_above_maxReplica_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster().Set("workerSpec[0].minReplica", "5").Set("workerSpec[0].maxReplica", "4"),
            "InvalidParameter", "workerSpec[0].minReplica");

    [Theory]
    [InlineData(1, 2, 5)]
    [InlineData(6, 2, 5)]
    public async Task With_autoscaling_a_replica_outside_minReplica_and_maxReplica_is_rejected(int replica, int min, int max) =>
        await AssertRejectedAsync(
            Bodies.Cluster()
                .Set("headSpec.enableAutoScaling", "true")
                .Set("workerSpec[2].replica", $"{replica}")
                .Set("workerSpec[2].minReplica", $"{min}")
                .Set("workerSpec[2].maxReplica", $"{max}"),
            "InvalidParameter", "workerSpec[2].replica");

    [Fact]
    public async Task With_autoscaling_replica_between_min_and_max_is_accepted_and_echoed()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster()
            .Set("headSpec.enableAutoScaling", "true")
            .Set("workerSpec[0].replica", "3").Set("workerSpec[0].minReplica", "2").Set("workerSpec[0].maxReplica", "5"));
        var group = cluster["workerSpec"]![0]!;
        Assert.Equal((3, 2, 5), (group["replica"]!.GetValue<int>(), group["minReplica"]!.GetValue<int>(), group["maxReplica"]!.GetValue<int>()));
        Assert.True(cluster["headSpec"]!["enableAutoScaling"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Without_autoscaling_replica_above_maxReplica_is_accepted()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster()
            .Set("workerSpec[0].replica", "4").Set("workerSpec[0].minReplica", "1").Set("workerSpec[0].maxReplica", "2"));
        Assert.Equal(4, cluster["workerSpec"]![0]!["replica"]!.GetValue<int>());
    }

    // idleTimeoutSeconds

    [Theory]
    [InlineData(9)]
    [InlineData(0)]
    [InlineData(-60)]
    [InlineData(86401)]
    public async Task IdleTimeoutSeconds_outside_10_to_86400_is_rejected(int seconds) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("headSpec.idleTimeoutSeconds", $"{seconds}"), "InvalidParameter", "headSpec.idleTimeoutSeconds");

    [Theory]
    [InlineData(10)]
    [InlineData(86400)]
    public async Task IdleTimeoutSeconds_at_the_bounds_is_accepted(int seconds)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster().Set("headSpec.idleTimeoutSeconds", $"{seconds}"));
        Assert.Equal(seconds, cluster["headSpec"]!["idleTimeoutSeconds"]!.GetValue<int>());
    }

    // env, rayStartParams, extraParam, gft

    [Theory]
    [InlineData("headSpec.env", "NOEQUALS")]
    [InlineData("headSpec.env", "=value")]
    [InlineData("headSpec.env", "1ABC=x")]
    [InlineData("headSpec.env", "MY-VAR=x")]
    [InlineData("headSpec.env", "GOOD=1\nBAD LINE")]
    [InlineData("workerSpec[1].env", "A.B=c")]
    [InlineData("workerSpec[1].env", "OK=1\n=2")]
    public async Task Env_line_that_is_not_KEY_VALUE_with_a_POSIX_name_is_rejected(string field, string env) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(field, JsonValue.Create(env).ToJsonString()), "InvalidParameter", field);

    [Fact]
    public async Task Env_lines_and_ray_start_flags_are_accepted_and_echoed_as_sent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        const string env = "MY_ENV=hello\nMY_ENV2=hello2\n_X=a=b";
        const string flags = "--num-cpus=0 --num-gpus=0 --include-dashboard=false --resources='{\"x\": 1}'";
        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster()
            .Set("headSpec.env", JsonValue.Create(env).ToJsonString())
            .Set("headSpec.rayStartParams", JsonValue.Create(flags).ToJsonString())
            .Set("workerSpec[0].env", JsonValue.Create(env).ToJsonString())
            .Set("workerSpec[0].rayStartParams", "\"--num-gpus=0\""));
        Assert.Equal(env, cluster["headSpec"]!["env"]!.GetValue<string>());
        Assert.Equal(flags, cluster["headSpec"]!["rayStartParams"]!.GetValue<string>());
        Assert.Equal(env, cluster["workerSpec"]![0]!["env"]!.GetValue<string>());
        Assert.Equal("--num-gpus=0", cluster["workerSpec"]![0]!["rayStartParams"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("headSpec.rayStartParams", "--address=10.0.0.1:6379")]
    [InlineData("headSpec.rayStartParams", "--num-cpus=1 --port=6380")]
    [InlineData("headSpec.rayStartParams", "--head")]
    [InlineData("headSpec.rayStartParams", "--block")]
    [InlineData("workerSpec[0].rayStartParams", "--address=head:6379")]
    [InlineData("workerSpec[0].rayStartParams", "--port=1")]
    [InlineData("workerSpec[0].rayStartParams", "--head")]
    [InlineData("workerSpec[0].rayStartParams", "--num-gpus=0 --block")]
    public async Task RayStartParams_flag_owned_by_Rayfleet_is_rejected(string field, string flags) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(field, JsonValue.Create(flags).ToJsonString()), "InvalidParameter", field);

    [Theory]
    [InlineData("num-cpus=1")]
    [InlineData("-n 1")]
    [InlineData("--")]
    public async Task RayStartParams_token_that_is_not_a_flag_is_rejected(string flags) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("headSpec.rayStartParams", JsonValue.Create(flags).ToJsonString()),
            "InvalidParameter", "headSpec.rayStartParams");

    // Issue 9 point 7: each of these reached ray start differently through KubeRay's bash -c (util.go ~1005, pod.go ~1518
    // convertParamMap) than through the local provider's argv, and is now a 400 at Create on every provider.
    [Theory]
    [InlineData("--include-dashboard --disable-usage-stats")]
    [InlineData("--resources={\"x\":1}")]
    [InlineData("--node-name=$POD_NAME")]
    public async Task RayStartParams_without_one_meaning_on_both_providers_are_rejected(string flags) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("headSpec.rayStartParams", JsonValue.Create(flags).ToJsonString()),
            "InvalidParameter", "headSpec.rayStartParams");

    [Theory]
    [InlineData("not json")]
    [InlineData("{")]
    [InlineData("{'a':1}")]
    [InlineData("")]
    public async Task ExtraParam_that_is_not_a_JSON_document_is_rejected(string extraParam) =>
        await AssertRejectedAsync(Bodies.Cluster().Set("extraParam", JsonValue.Create(extraParam).ToJsonString()), "InvalidParameter", "extraParam");

    [Fact]
    public async Task Gft_enabled_without_a_redisUrl_is_rejected() =>
        await AssertRejectedAsync(Bodies.Cluster().Set("headSpec.gftEnabled", "true"), "InvalidParameter", "headSpec.gftConfig.redisUrl");

    // InvalidParameter.JSON

    [Theory]
    [InlineData("[]")]
    [InlineData("[{\"name\":\"x\"}]")]
    [InlineData("\"a string\"")]
    [InlineData("42")]
    [InlineData("true")]
    [InlineData("null")]
    public async Task Body_that_is_not_a_JSON_object_is_rejected(string body)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawPostAsync(Clusters(ws), body), HttpStatusCode.BadRequest, "InvalidParameter.JSON", "JSON object");
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"name\":}")]
    [InlineData("{'name':'x'}")]
    [InlineData("{\"name\":\"x\",}")]
    [InlineData("{\"name\":\"x\"} trailing")]
    [InlineData("not json at all")]
    public async Task Malformed_JSON_is_rejected(string body)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawPostAsync(Clusters(ws), body), HttpStatusCode.BadRequest, "InvalidParameter.JSON");
    }

    [Theory]
    [InlineData("workerSpec[0].replica", "\"two\"")]
    [InlineData("workerSpec[0].replica", "1.5")]
    [InlineData("workerSpec[1].minReplica", "true")]
    [InlineData("name", "5")]
    [InlineData("name", "{}")]
    [InlineData("headSpec", "\"big\"")]
    [InlineData("headSpec", "[]")]
    [InlineData("headSpec.cpu", "2")]
    [InlineData("headSpec.enableAutoScaling", "\"yes\"")]
    [InlineData("headSpec.idleTimeoutSeconds", "\"60\"")]
    [InlineData("headSpec.gftConfig", "\"redis://x\"")]
    [InlineData("workerSpec", "{}")]
    [InlineData("volumeIds", "\"vol-0123456789abcdef\"")]
    [InlineData("extraParam", "{}")]
    public async Task Value_of_the_wrong_JSON_type_is_rejected_naming_the_field(string field, string json)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawPostAsync(Clusters(ws), Bodies.Cluster().Set(field, json)), HttpStatusCode.BadRequest, "InvalidParameter.JSON", field);
    }

    // QuotaExceeded (the test host's root_queue: 64 CU, 4 GPU)

    [Theory]
    [InlineData("65", "4Gi")]
    [InlineData("1", "260Gi")] // 65 CU by memory: a node counts max(cores, GiB / 4)
    public async Task Head_larger_than_the_queue_is_rejected_with_QuotaExceeded(string cpu, string memory)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal().Set("headSpec.cpu", $"\"{cpu}\"").Set("headSpec.memory", $"\"{memory}\"");
        AssertError(await CreateAsync(api, ws, body), HttpStatusCode.BadRequest, "QuotaExceeded", "root_queue", "64 CU", "65 CU");
    }

    [Fact]
    public async Task Workers_that_together_exceed_the_queue_are_rejected_with_QuotaExceeded()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        // 1 + 2 x 8 x 4 = 65 CU.
        var body = Bodies.Minimal();
        body["workerSpec"] = new JsonArray { Bodies.Group("a", replica: 8, cpu: "4", memory: "16Gi"), Bodies.Group("b", replica: 8, cpu: "4", memory: "16Gi") };
        AssertError(await CreateAsync(api, ws, body), HttpStatusCode.BadRequest, "QuotaExceeded", "root_queue");

        // 64 CU exactly fits.
        body["workerSpec"]![1]!["cpu"] = "3.875";
        body["workerSpec"]![1]!["memory"] = "15.5Gi";
        (await CreateAsync(api, ws, body)).EnsureOk();
    }

    [Fact]
    public async Task GPUs_beyond_the_queue_are_rejected_with_QuotaExceeded()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal();
        body["workerSpec"] = new JsonArray { Bodies.Group("gpu", replica: 5, cpu: "4", memory: "15Gi") };
        body.Set("workerSpec[0].workerType", "\"GPU\"").Set("workerSpec[0].gpuSpec", "\"ecs.gn6i-c4g1.xlarge\"");
        AssertError(await CreateAsync(api, ws, body), HttpStatusCode.BadRequest, "QuotaExceeded", "root_queue", "4 GPU", "5 GPU");

        body.Set("workerSpec[0].replica", "4");
        (await CreateAsync(api, ws, body)).EnsureOk();
    }

    [Fact]
    public async Task With_autoscaling_the_demand_is_counted_at_minReplica()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        // At replica it would be 1 + 20 x 4 = 81 CU; at minReplica it is 5 CU.
        var body = Bodies.Minimal().Set("headSpec.enableAutoScaling", "true");
        body["workerSpec"] = new JsonArray { Bodies.Group("elastic", replica: 20, cpu: "4", memory: "16Gi") };
        body.Set("workerSpec[0].minReplica", "1").Set("workerSpec[0].maxReplica", "20");
        (await CreateAsync(api, ws, body)).EnsureOk();
    }

    [Fact]
    public async Task A_cluster_that_fits_the_capacity_but_not_what_is_free_is_accepted_and_waits()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var big = Bodies.Minimal("big").Set("headSpec.cpu", "\"40\"");
        (await CreateAsync(api, ws, big)).EnsureOk();
        await Eventually.HoldsAsync(host, async () => await api.UsedCuAsync(ws) == 40m);

        var second = await CreateAndGetAsync(api, ws, Bodies.Minimal("second").Set("headSpec.cpu", "\"30\""));
        Assert.Equal("Starting", second["state"]!.GetValue<string>());
        var id = second["clusterId"]!.GetValue<string>();
        var waiting = await api.WaitForClusterAsync(ws, id, c => c["message"]!.GetValue<string>().Contains("root_queue", StringComparison.Ordinal));
        Assert.Equal("Starting", waiting["state"]!.GetValue<string>());
        Assert.Contains("30 CU", waiting["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("24 CU", waiting["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    // Referenced names that do not exist: 400 with the NotFound code

    [Theory]
    [InlineData("headSpec.queueName", "\"nope\"", "InvalidQueue.NotFound", "headSpec.queueName")]
    [InlineData("workerSpec[1].queueName", "\"dev_queue\"", "InvalidQueue.NotFound", "workerSpec[1].queueName")]
    [InlineData("networkServiceName", "\"vpc\"", "InvalidNetworkService.NotFound", "networkServiceName")]
    [InlineData("volumeIds", "[\"vol-0123456789abcdef\"]", "InvalidVolume.NotFound", "volumeIds[0]")]
    [InlineData("headSpec.gpuSpec", "\"ecs.nope\"", "InvalidGpuSpec.NotFound", "headSpec.gpuSpec")]
    [InlineData("workerSpec[2].gpuSpec", "\"ecs.gn9-unknown\"", "InvalidGpuSpec.NotFound", "workerSpec[2].gpuSpec")]
    [InlineData("displayReleaseVersion", "\"ray-9.9.9 (Ray 9.9.9, Python 3.12)\"", "InvalidReleaseVersion.NotFound", "displayReleaseVersion")]
    [InlineData("headSpec.displayReleaseVersion", "\"err-1.2.0 (Ray 2.55.1, Python 3.12)\"", "InvalidReleaseVersion.NotFound", "headSpec.displayReleaseVersion")]
    [InlineData("workerSpec[0].displayReleaseVersion", "\"ray-1.0.0\"", "InvalidReleaseVersion.NotFound", "workerSpec[0].displayReleaseVersion")]
    public async Task A_referenced_name_that_does_not_exist_is_rejected_with_400_and_its_NotFound_code(string path, string json, string code, string field) =>
        await AssertRejectedAsync(Bodies.Cluster().Set(path, json), code, field);

    [Fact]
    public async Task A_queue_network_service_and_volume_that_exist_are_accepted()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync("/api/v1/workspaces/queues", JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"dev_queue","resourceSpec":{"cu":8}}""")!)).EnsureOk();
        (await api.RawPostAsync($"/api/v1/workspaces/{ws}/networkServices", JsonNode.Parse("""{"name":"vpc"}""")!)).EnsureOk();
        var volume = (await api.RawPostAsync($"/api/v1/workspaces/{ws}/volumes",
            JsonNode.Parse("""{"name":"data","kind":"hostPath","source":"/tmp/data","mountPath":"/data"}""")!)).EnsureOk().Json["volumeId"]!.GetValue<string>();

        var cluster = await CreateAndGetAsync(api, ws, Bodies.Cluster()
            .Set("workerSpec[1].queueName", "\"dev_queue\"")
            .Set("networkServiceName", "\"vpc\"")
            .Set("volumeIds", $"[\"{volume}\"]"));
        Assert.Equal("dev_queue", cluster["workerSpec"]![1]!["queueName"]!.GetValue<string>());
        Assert.Equal("root_queue", cluster["headSpec"]!["queueName"]!.GetValue<string>());
        Assert.Equal("vpc", cluster["networkServiceName"]!.GetValue<string>());
        Assert.Equal([volume], cluster["volumeIds"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    // Every problem at once

    [Fact]
    public async Task Every_problem_of_a_request_is_reported_at_once()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Cluster()
            .Without("name")
            .Set("description", $"\"{new string('d', 300)}\"")
            .Set("headSpec.cpu", "\"0\"")
            .Set("headSpec.idleTimeoutSeconds", "5")
            .Set("headSpec.queueName", "\"nope\"")
            .Set("workerSpec[0].replica", "0")
            .Set("workerSpec[1].groupName", "\"G0\"")
            .Set("workerSpec[2].memory", "\"NaN\"")
            .Set("extraParam", "\"{oops\"");
        var response = await CreateAsync(api, ws, body);
        var json = AssertError(response, HttpStatusCode.BadRequest, "MissingParameter.name",
            "name", "description", "headSpec.cpu", "headSpec.idleTimeoutSeconds", "headSpec.queueName",
            "workerSpec[0].replica", "workerSpec[1].groupName", "workerSpec[2].memory", "extraParam");
        var errors = json["Errors"]!.AsArray().Select(e => (Field: e!["Field"]!.GetValue<string>(), Code: e["Code"]!.GetValue<string>())).ToList();
        Assert.Equal(
            new HashSet<(string, string)>
            {
                ("name", "MissingParameter.name"),
                ("description", "InvalidParameter"),
                ("headSpec.cpu", "InvalidParameter"),
                ("headSpec.idleTimeoutSeconds", "InvalidParameter"),
                ("headSpec.queueName", "InvalidQueue.NotFound"),
                ("workerSpec[0].replica", "InvalidParameter"),
                ("workerSpec[1].groupName", "InvalidParameter"),
                ("workerSpec[2].memory", "InvalidParameter"),
                ("extraParam", "InvalidParameter"),
            },
            errors.ToHashSet());
        Assert.Equal(9, errors.Count);
        Assert.All(json["Errors"]!.AsArray(), e => Assert.Contains(e!["Field"]!.GetValue<string>(), e["Message"]!.GetValue<string>(), StringComparison.Ordinal));
    }

    // null is absent (the C# SDK sends every nested key, unset ones as null)

    private const string SdkStyleBody =
        """
        {"name":"sdk","description":null,"displayReleaseVersion":null,"networkServiceName":null,"extraParam":null,"volumeIds":null,
         "headSpec":{"cpu":"2","memory":"8Gi","queueName":null,"enableAutoScaling":null,"idleTimeoutSeconds":null,"gpuSpec":null,
                     "displayReleaseVersion":null,"env":null,"rayStartParams":null,"gftEnabled":null,"gftConfig":null,"replica":null},
         "workerSpec":[{"groupName":"WorkerGroup1","workerType":null,"replica":null,"minReplica":null,"maxReplica":null,"cpu":"4",
                        "memory":"16Gi","queueName":null,"gpuSpec":null,"displayReleaseVersion":null,"env":null,"rayStartParams":null},
                       {"groupName":"g2","workerType":"CPU","replica":2,"minReplica":null,"maxReplica":null,"cpu":"1",
                        "memory":"4Gi","queueName":null,"gpuSpec":null,"displayReleaseVersion":null,"env":null,"rayStartParams":null}]}
        """;

    private const string SameBodyWithoutNulls =
        """
        {"name":"sdk",
         "headSpec":{"cpu":"2","memory":"8Gi"},
         "workerSpec":[{"groupName":"WorkerGroup1","cpu":"4","memory":"16Gi"},
                       {"groupName":"g2","workerType":"CPU","replica":2,"cpu":"1","memory":"4Gi"}]}
        """;

    private static readonly string[] VolatileKeys =
        ["requestId", "clusterId", "instanceId", "createTime", "startTime", "modifiedTime", "submitToken", "message", "state", "instances",
         "dashboardUrl", "jobUrl", "jobUrlInner", "grpcEndpoint"];

    private static string Stable(JsonObject cluster)
    {
        var copy = cluster.DeepClone().AsObject();
        foreach (var key in VolatileKeys) copy.Remove(key);
        return copy.ToJsonString();
    }

    [Fact]
    public async Task Null_for_every_unset_nested_field_is_accepted_exactly_like_absent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var withNulls = await CreateAndGetAsync(api, ws, JsonNode.Parse(SdkStyleBody)!.AsObject());
        var withoutNulls = await CreateAndGetAsync(api, ws, JsonNode.Parse(SameBodyWithoutNulls)!.AsObject());
        Assert.Equal(Stable(withoutNulls), Stable(withNulls));

        // And the defaults are the documented ones.
        var head = withNulls["headSpec"]!;
        Assert.Equal("root_queue", head["queueName"]!.GetValue<string>());
        Assert.False(head["enableAutoScaling"]!.GetValue<bool>());
        Assert.Equal(60, head["idleTimeoutSeconds"]!.GetValue<int>());
        Assert.Equal("ray-1.2.0 (Ray 2.55.1, Python 3.12)", withNulls["displayReleaseVersion"]!.GetValue<string>());
        var group = withNulls["workerSpec"]![0]!;
        Assert.Equal(("CPU", 1, 1, 1, "root_queue"),
            (group["workerType"]!.GetValue<string>(), group["replica"]!.GetValue<int>(), group["minReplica"]!.GetValue<int>(),
             group["maxReplica"]!.GetValue<int>(), group["queueName"]!.GetValue<string>()));
        Assert.Empty(withNulls["volumeIds"]!.AsArray());
    }

    [Fact]
    public async Task Null_inside_gftConfig_is_accepted_like_absent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = JsonNode.Parse(SdkStyleBody)!.AsObject()
            .Set("headSpec.gftEnabled", "true")
            .Set("headSpec.gftConfig", """{"redisUrl":"10.12.3.4:6379","redisUsername":null,"redisPassword":null}""");
        var cluster = await CreateAndGetAsync(api, ws, body);
        var gft = cluster["headSpec"]!["gftConfig"]!.AsObject();
        Assert.Equal("10.12.3.4:6379", gft["redisUrl"]!.GetValue<string>());
        Assert.Null(gft["redisUsername"]);
        Assert.Null(gft["redisPassword"]);
    }

    [Fact]
    public async Task Update_with_every_nested_field_null_keeps_every_value()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Cluster()
            .Set("description", "\"keep me\"")
            .Set("extraParam", JsonValue.Create("{\"k\":1}").ToJsonString())
            .Set("headSpec.env", "\"A=1\"")
            .Set("headSpec.idleTimeoutSeconds", "120")
            .Set("workerSpec[0].replica", "2")
            .Set("workerSpec[0].env", "\"B=2\"");
        var before = await CreateAndGetAsync(api, ws, body);
        var id = before["clusterId"]!.GetValue<string>();

        var update = JsonNode.Parse(
            """
            {"name":null,"description":null,"displayReleaseVersion":null,"networkServiceName":null,"extraParam":null,"volumeIds":null,
             "headSpec":{"cpu":null,"memory":null,"queueName":null,"enableAutoScaling":null,"idleTimeoutSeconds":null,"gpuSpec":null,
                         "displayReleaseVersion":null,"env":null,"rayStartParams":null,"gftEnabled":null,"gftConfig":null,"replica":null},
             "workerSpec":null}
            """)!.AsObject();
        (await api.RawPostAsync($"{Clusters(ws)}/{id}", update)).EnsureOk();
        var after = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Json;
        Assert.Equal(before["headSpec"]!.ToJsonString(), after["headSpec"]!.ToJsonString());
        Assert.Equal(before["workerSpec"]!.ToJsonString(), after["workerSpec"]!.ToJsonString());
        Assert.Equal("keep me", after["description"]!.GetValue<string>());
        Assert.Equal("{\"k\":1}", after["extraParam"]!.GetValue<string>());
        Assert.Equal("valid", after["name"]!.GetValue<string>());
        Assert.False(after["modified"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Update_of_a_worker_group_with_null_fields_keeps_the_group_values()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var before = await CreateAndGetAsync(api, ws, Bodies.Cluster().Set("workerSpec[1].replica", "3"));
        var id = before["clusterId"]!.GetValue<string>();
        var groups = new JsonArray([.. new[] { "g0", "g1", "g2" }.Select(g => (JsonNode)JsonNode.Parse(
            $$"""{"groupName":"{{g}}","workerType":null,"replica":null,"minReplica":null,"maxReplica":null,"cpu":null,"memory":null,"queueName":null,"gpuSpec":null,"displayReleaseVersion":null,"env":null,"rayStartParams":null}""")!)]);
        (await api.RawPostAsync($"{Clusters(ws)}/{id}", new JsonObject { ["workerSpec"] = groups })).EnsureOk();
        var after = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Json;
        Assert.Equal(before["workerSpec"]!.ToJsonString(), after["workerSpec"]!.ToJsonString());
        Assert.Equal(3, after["workerSpec"]![1]!["replica"]!.GetValue<int>());
    }

    // UpdateRayCluster applies the same rules

    [Theory]
    [InlineData("headSpec.cpu", "\"0\"", "InvalidParameter", "headSpec.cpu")]
    [InlineData("name", "\"\"", "InvalidParameter", "name")]
    [InlineData("headSpec.idleTimeoutSeconds", "86401", "InvalidParameter", "headSpec.idleTimeoutSeconds")]
    [InlineData("workerSpec", """[{"groupName":"new","cpu":"1","memory":"4Gi","replica":0}]""", "InvalidParameter", "workerSpec[0].replica")]
    [InlineData("workerSpec", """[{"groupName":"a","cpu":"1","memory":"4Gi"},{"groupName":"A","cpu":"1","memory":"4Gi"}]""", "InvalidParameter", "workerSpec[1].groupName")]
    [InlineData("headSpec.rayStartParams", "\"--head\"", "InvalidParameter", "headSpec.rayStartParams")]
    [InlineData("workerSpec", """[{"groupName":"tail-","cpu":"1","memory":"4Gi"}]""", "InvalidParameter", "workerSpec[0].groupName")] // pod.go:1172
    [InlineData("networkServiceName", "\"vpc\"", "InvalidNetworkService.NotFound", "networkServiceName")]
    [InlineData("headSpec.queueName", "\"nope\"", "InvalidQueue.NotFound", "headSpec.queueName")]
    public async Task Update_with_a_value_that_breaks_a_rule_is_rejected_and_changes_nothing(string path, string json, string code, string field)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var before = await CreateAndGetAsync(api, ws, Bodies.Cluster());
        var id = before["clusterId"]!.GetValue<string>();
        var patch = new JsonObject();
        if (path.IndexOf('.', StringComparison.Ordinal) is > 0 and var dot) patch[path[..dot]] = new JsonObject();
        AssertFieldError(await api.RawPostAsync($"{Clusters(ws)}/{id}", patch.Set(path, json)), code, field);
        var after = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Json;
        Assert.Equal(Stable(before), Stable(after));
    }

    [Fact]
    public async Task Update_beyond_the_queue_capacity_is_rejected_with_QuotaExceeded()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = (await CreateAsync(api, ws, Bodies.Cluster())).EnsureOk().Json["clusterId"]!.GetValue<string>();
        var response = await api.RawPostAsync($"{Clusters(ws)}/{id}", JsonNode.Parse("""{"workerSpec":[{"groupName":"g0","replica":70}]}""")!);
        AssertError(response, HttpStatusCode.BadRequest, "QuotaExceeded", "root_queue");
    }

    [Theory]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("{\"headSpec\":{\"idleTimeoutSeconds\":\"sixty\"}}")]
    public async Task Update_with_a_body_that_is_not_a_JSON_object_of_the_right_types_is_rejected(string body)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = (await CreateAsync(api, ws, Bodies.Cluster())).EnsureOk().Json["clusterId"]!.GetValue<string>();
        AssertError(await api.RawPostAsync($"{Clusters(ws)}/{id}", body), HttpStatusCode.BadRequest, "InvalidParameter.JSON");
    }
}
