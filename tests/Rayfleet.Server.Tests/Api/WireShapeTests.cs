using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using static Rayfleet.Server.Tests.Support.ApiClient;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Ray cluster responses against emr-api.md §5: exact names and JSON types.</summary>
public sealed class WireShapeTests
{
    private const string Plaintext = "redis-Pa55word!plain";

    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    /// <summary>Creates network service "vpc" and then the §5.1 example cluster; waits until it runs.</summary>
    private static async Task<(string Id, JsonObject Create, JsonObject Get)> ReferenceClusterAsync(ApiClient api, string ws)
    {
        (await api.RawPostAsync($"/api/v1/workspaces/{ws}/networkServices", JsonNode.Parse("""{"name":"vpc","type":"NetworkService"}""")!)).EnsureOk();
        var create = (await api.RawPostAsync(Clusters(ws), Bodies.ReferenceExample)).EnsureOk().Json;
        var id = create["clusterId"]!.GetValue<string>();
        var running = await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 3);
        return (id, create, running.AsObject());
    }

    // Rayfleet keeps no display names or account ids: those keys are present, as strings when known.
    private static void AssertStringOrNull(JsonObject obj, params string[] keys)
    {
        foreach (var key in keys) Assert.True(Kind(obj, key) is K.String or K.Null, $"{key} is {Kind(obj, key)}");
    }

    /// <summary>The creator and modifier of a cluster that the test host's admin key created: its principal.</summary>
    private static async Task AssertCreatedByAdminAsync(RayfleetHost host, JsonObject cluster)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var principal = await db.AccessKeys.AsNoTracking().Where(k => k.Id == RayfleetHost.AdminKey.Id).Select(k => k.PrincipalId).SingleAsync();
        Assert.Equal(K.String, Kind(cluster, "creator"));
        Assert.Equal(principal, cluster["creator"]!.GetValue<string>());
        Assert.Equal(principal, cluster["modifier"]!.GetValue<string>());
        Assert.Equal("admin", cluster["creatorName"]!.GetValue<string>());
        Assert.Equal("admin", cluster["modifierName"]!.GetValue<string>());
        AssertStringOrNull(cluster, "userId");
    }

    [Fact]
    public async Task CreateRayCluster_from_the_reference_example_answers_requestId_and_clusterId()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync($"/api/v1/workspaces/{ws}/networkServices", JsonNode.Parse("""{"name":"vpc"}""")!)).EnsureOk();
        var response = (await api.RawPostAsync(Clusters(ws), Bodies.ReferenceExample)).EnsureOk();
        var json = response.Json;
        Assert.Equal(["requestId", "clusterId"], json.Select(p => p.Key));
        Assert.Equal(response.RequestIdHeader, json["requestId"]!.GetValue<string>());
        Assert.Matches("^ray-[a-z0-9]{16}$", json["clusterId"]!.GetValue<string>());
    }

    [Fact]
    public async Task GetRayCluster_has_every_key_of_the_reference_with_its_JSON_type_and_the_values_sent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var (id, _, get) = await ReferenceClusterAsync(api, ws);

        AssertKinds(get, [
            ("requestId", K.String), ("clusterId", K.String), ("instanceId", K.String), ("name", K.String),
            ("description", K.String), ("displayReleaseVersion", K.String), ("networkServiceName", K.String),
            ("extraParam", K.String), ("headSpec", K.Object), ("workerSpec", K.Array), ("volumeIds", K.Array),
            ("state", K.String), ("message", K.String), ("modified", K.False), ("createTime", K.Number),
            ("startTime", K.Number), ("modifiedTime", K.Number), ("dashboardUrl", K.String), ("jobUrl", K.String),
            ("jobUrlInner", K.String), ("grpcEndpoint", K.String), ("submitToken", K.String), ("instances", K.Array),
        ]);
        await AssertCreatedByAdminAsync(host, get);

        Assert.Equal(id, get["clusterId"]!.GetValue<string>());
        Assert.Matches($"^{id}-[a-z0-9]{{8}}$", get["instanceId"]!.GetValue<string>());
        Assert.Equal("testRayCluster", get["name"]!.GetValue<string>());
        Assert.Equal("Ray Cluster for dev.", get["description"]!.GetValue<string>());
        Assert.Equal("ray-1.0.0 (Ray 2.47.1, Python 3.12)", get["displayReleaseVersion"]!.GetValue<string>());
        Assert.Equal("vpc", get["networkServiceName"]!.GetValue<string>());
        Assert.Equal("{}", get["extraParam"]!.GetValue<string>());
        Assert.Equal("Running", get["state"]!.GetValue<string>());
        Assert.Empty(get["volumeIds"]!.AsArray());
        Assert.Matches("^[0-9a-f]{32}$", get["submitToken"]!.GetValue<string>());
        var createTime = get["createTime"]!.GetValue<long>();
        Assert.InRange(createTime, host.Clock.GetUtcNow().AddMinutes(-5).ToUnixTimeMilliseconds(), host.Clock.GetUtcNow().ToUnixTimeMilliseconds());
        Assert.True(get["modifiedTime"]!.GetValue<long>() >= createTime);
        Assert.True(get["startTime"]!.GetValue<long>() >= createTime);

        var head = get["headSpec"]!.AsObject();
        AssertKinds(head, [
            ("cpu", K.String), ("memory", K.String), ("queueName", K.String), ("enableAutoScaling", K.False),
            ("idleTimeoutSeconds", K.Number), ("replica", K.Number),
        ]);
        // 2.0.0 head fields are present even when not set.
        foreach (var key in new[] { "gpuSpec", "displayReleaseVersion", "env", "rayStartParams", "gftEnabled", "gftConfig" })
            Assert.Equal(K.Null, Kind(head, key));
        Assert.Equal(("2", "8Gi", "root_queue", 60, 1),
            (head["cpu"]!.GetValue<string>(), head["memory"]!.GetValue<string>(), head["queueName"]!.GetValue<string>(),
             head["idleTimeoutSeconds"]!.GetValue<int>(), head["replica"]!.GetValue<int>()));

        var group = Assert.Single(get["workerSpec"]!.AsArray())!.AsObject();
        AssertKinds(group, [
            ("groupName", K.String), ("workerType", K.String), ("replica", K.Number), ("minReplica", K.Number),
            ("maxReplica", K.Number), ("cpu", K.String), ("memory", K.String), ("queueName", K.String),
            ("gpuSpec", K.Null), ("displayReleaseVersion", K.Null), ("env", K.Null), ("rayStartParams", K.Null),
        ]);
        Assert.Equal(("WorkerGroup1", "CPU", 2, 1, 10, "4", "16Gi", "root_queue"),
            (group["groupName"]!.GetValue<string>(), group["workerType"]!.GetValue<string>(), group["replica"]!.GetValue<int>(),
             group["minReplica"]!.GetValue<int>(), group["maxReplica"]!.GetValue<int>(), group["cpu"]!.GetValue<string>(),
             group["memory"]!.GetValue<string>(), group["queueName"]!.GetValue<string>()));
    }

    [Fact]
    public async Task GetRayCluster_instances_have_the_reference_keys_and_node_ids()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var (id, _, get) = await ReferenceClusterAsync(api, ws);
        var instances = get["instances"]!.AsArray().Select(n => n!.AsObject()).ToList();
        Assert.Equal(3, instances.Count);
        foreach (var node in instances)
        {
            AssertKinds(node, [
                ("instanceId", K.String), ("type", K.String), ("phase", K.String), ("message", K.String), ("reason", K.String),
                ("containerState", K.String), ("containerStateMessage", K.String), ("containerStateReason", K.String),
                ("containerExitCode", K.Number), ("createTime", K.Number), ("startTime", K.Number),
            ]);
            Assert.Equal("Running", node["phase"]!.GetValue<string>());
            Assert.Equal(0, node["containerExitCode"]!.GetValue<int>());
        }
        var head = Assert.Single(instances, n => n["type"]!.GetValue<string>() == "Head");
        Assert.Matches($"^{id}-head-[a-z0-9]{{5}}$", head["instanceId"]!.GetValue<string>());
        var workers = instances.Where(n => n["type"]!.GetValue<string>() != "Head").ToList();
        Assert.Equal(2, workers.Count);
        // Kubernetes names use the group's lower-case form.
        Assert.All(workers, w => Assert.Matches($"^{id}-workergroup1-[a-z0-9]{{5}}$", w["instanceId"]!.GetValue<string>()));
        Assert.Equal(3, instances.Select(n => n["instanceId"]!.GetValue<string>()).Distinct().Count());
    }

    [Fact]
    public async Task GetRayCluster_echoes_the_full_2_0_0_head_and_worker_spec_as_sent()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = JsonNode.Parse($$$"""
            {"name":"full","displayReleaseVersion":"ray-1.2.0 (Ray 2.55.1, Python 3.12)",
             "headSpec":{"cpu":"4","memory":"15Gi","queueName":"root_queue","enableAutoScaling":true,"idleTimeoutSeconds":300,
                         "gpuSpec":"ecs.gn6i-c4g1.xlarge","displayReleaseVersion":"ray-1.2.0 (Ray 2.55.1, Python 3.12)",
                         "env":"MY_ENV=hello\nMY_ENV2=hello2","rayStartParams":"--num-cpus=0 --num-gpus=0","gftEnabled":true,
                         "gftConfig":{"redisUrl":"10.12.3.4:6379","redisUsername":"default","redisPassword":"{{{Plaintext}}}"}},
             "workerSpec":[{"groupName":"WorkerGroup1","workerType":"GPU","replica":2,"minReplica":1,"maxReplica":3,"cpu":"4",
                            "memory":"15Gi","queueName":"root_queue","gpuSpec":"ecs.gn6i-c4g1.xlarge",
                            "displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)","env":"A=1","rayStartParams":"--num-gpus=1"}]}
            """)!.AsObject();
        var id = (await api.RawPostAsync(Clusters(ws), body)).EnsureOk().Json["clusterId"]!.GetValue<string>();
        var get = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Json;

        var expectedHead = body["headSpec"]!.DeepClone().AsObject();
        expectedHead["gftConfig"]!["redisPassword"] = "******";
        expectedHead["replica"] = 1;
        var head = get["headSpec"]!.AsObject();
        Assert.Equal(expectedHead.Select(p => p.Key).Order(StringComparer.Ordinal), head.Select(p => p.Key).Order(StringComparer.Ordinal));
        foreach (var (key, value) in expectedHead)
            Assert.True(JsonNode.DeepEquals(value, head[key]), $"headSpec.{key}: expected {value?.ToJsonString()}, got {head[key]?.ToJsonString()}");

        var sentGroup = body["workerSpec"]![0]!.AsObject();
        var group = get["workerSpec"]![0]!.AsObject();
        Assert.Equal(sentGroup.Select(p => p.Key).Order(StringComparer.Ordinal), group.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.True(JsonNode.DeepEquals(sentGroup, group), $"workerSpec[0]: expected {sentGroup.ToJsonString()}, got {group.ToJsonString()}");
    }

    [Fact]
    public async Task The_redis_password_comes_back_masked_and_its_plaintext_is_never_in_a_response_or_the_store()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Cluster().Set("headSpec.gftEnabled", "true")
            .Set("headSpec.gftConfig", $$"""{"redisUrl":"10.12.3.4:6379","redisUsername":"default","redisPassword":"{{Plaintext}}"}""")
            .Set("clientToken", "\"pw-token\"");
        var bodies = new List<string>();
        var create = (await api.RawPostAsync(Clusters(ws), body)).EnsureOk();
        bodies.Add(create.Body);
        bodies.Add((await api.RawPostAsync(Clusters(ws), body)).EnsureOk().Body); // idempotent replay
        var id = create.Json["clusterId"]!.GetValue<string>();

        var get = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        bodies.Add(get.Body);
        Assert.Equal("******", get.Json["headSpec"]!["gftConfig"]!["redisPassword"]!.GetValue<string>());
        Assert.Equal("10.12.3.4:6379", get.Json["headSpec"]!["gftConfig"]!["redisUrl"]!.GetValue<string>());
        Assert.Equal("default", get.Json["headSpec"]!["gftConfig"]!["redisUsername"]!.GetValue<string>());
        bodies.Add((await api.RawGetAsync(Clusters(ws))).EnsureOk().Body);

        // Sending the mask back (as a client that round-trips the Get response does) keeps the stored password.
        var roundTrip = new JsonObject { ["headSpec"] = get.Json["headSpec"]!.DeepClone(), ["description"] = "changed" };
        bodies.Add((await api.RawPostAsync($"{Clusters(ws)}/{id}", roundTrip)).EnsureOk().Body);
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        var after = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        bodies.Add(after.Body);
        Assert.Equal("******", after.Json["headSpec"]!["gftConfig"]!["redisPassword"]!.GetValue<string>());
        Assert.False(after.Json["modified"]!.GetValue<bool>());

        Assert.All(bodies, b => Assert.DoesNotContain(Plaintext, b, StringComparison.Ordinal));

        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var row = await db.Clusters.AsNoTracking().SingleAsync(c => c.Id == id);
        Assert.DoesNotContain(Plaintext, row.SpecJson, StringComparison.Ordinal);
        Assert.DoesNotContain(Plaintext, row.RunSpecJson ?? "", StringComparison.Ordinal);
        var protection = scope.ServiceProvider.GetRequiredService<IDataProtectionProvider>();
        Assert.Equal(Plaintext, ClusterSecrets.UnprotectRedisPassword(ClusterSpec.FromJson(row.SpecJson), protection));
        var idempotency = await db.Idempotency.AsNoTracking().Select(r => r.ResponseJson).ToListAsync();
        Assert.All(idempotency, r => Assert.DoesNotContain(Plaintext, r, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_new_redis_password_replaces_the_stored_one()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal().Set("headSpec.gftEnabled", "true")
            .Set("headSpec.gftConfig", $$"""{"redisUrl":"10.12.3.4:6379","redisPassword":"{{Plaintext}}"}""");
        var id = (await api.RawPostAsync(Clusters(ws), body)).EnsureOk().Json["clusterId"]!.GetValue<string>();
        var update = await api.RawPostAsync($"{Clusters(ws)}/{id}", JsonNode.Parse("""{"headSpec":{"gftConfig":{"redisPassword":"second-secret"}}}""")!);
        Assert.DoesNotContain("second-secret", update.EnsureOk().Body, StringComparison.Ordinal);
        var get = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        Assert.DoesNotContain("second-secret", get.Body, StringComparison.Ordinal);
        Assert.Equal("10.12.3.4:6379", get.Json["headSpec"]!["gftConfig"]!["redisUrl"]!.GetValue<string>());

        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var row = await db.Clusters.AsNoTracking().SingleAsync(c => c.Id == id);
        var protection = scope.ServiceProvider.GetRequiredService<IDataProtectionProvider>();
        Assert.Equal("second-secret", ClusterSecrets.UnprotectRedisPassword(ClusterSpec.FromJson(row.SpecJson), protection));
    }

    private static readonly (string Key, K Kind)[] ListItemKinds =
    [
        ("clusterId", K.String), ("name", K.String), ("description", K.String), ("displayReleaseVersion", K.String),
        ("networkServiceName", K.String), ("instanceId", K.String), ("state", K.String), ("message", K.String),
        ("modified", K.False), ("createTime", K.Number), ("startTime", K.Number), ("modifiedTime", K.Number),
        ("dashboardUrl", K.String), ("grpcEndpoint", K.String), ("headSpec", K.Object), ("workerSpec", K.Array),
    ];

    [Fact]
    public async Task ListRayCluster_items_have_the_list_keys_only_and_a_short_head_and_worker_spec()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var (id, _, _) = await ReferenceClusterAsync(api, ws);
        await api.WaitForQuietAsync();
        var get = await api.GetClusterAsync(ws, id);
        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk();
        var json = list.Json;
        AssertKinds(json, [("requestId", K.String), ("rayClusters", K.Array), ("totalCount", K.Number)]);
        Assert.Equal(list.RequestIdHeader, json["requestId"]!.GetValue<string>());
        Assert.Equal(1, json["totalCount"]!.GetValue<int>());

        var item = Assert.Single(json["rayClusters"]!.AsArray())!.AsObject();
        AssertKinds(item, ListItemKinds);
        await AssertCreatedByAdminAsync(host, item);
        AssertAbsent(item, "extraParam", "instances", "jobUrl", "jobUrlInner", "submitToken", "volumeIds", "requestId");
        foreach (var (key, _) in ListItemKinds.Where(k => k.Key is not ("headSpec" or "workerSpec")))
            Assert.True(JsonNode.DeepEquals(get[key], item[key]), $"{key}: Get has {get[key]?.ToJsonString()}, List has {item[key]?.ToJsonString()}");
        Assert.Equal(id, item["clusterId"]!.GetValue<string>());

        var head = item["headSpec"]!.AsObject();
        Assert.Equal(["cpu", "enableAutoScaling", "gpuSpec", "idleTimeoutSeconds", "memory", "queueName", "replica"],
            head.Select(p => p.Key).Order(StringComparer.Ordinal));
        AssertKinds(head, [("cpu", K.String), ("memory", K.String), ("queueName", K.String), ("enableAutoScaling", K.False),
            ("idleTimeoutSeconds", K.Number), ("replica", K.Number), ("gpuSpec", K.Null)]);
        Assert.Equal(1, head["replica"]!.GetValue<int>());

        var group = Assert.Single(item["workerSpec"]!.AsArray())!.AsObject();
        Assert.Equal(["cpu", "gpuSpec", "groupName", "maxReplica", "memory", "minReplica", "queueName", "replica", "workerType"],
            group.Select(p => p.Key).Order(StringComparer.Ordinal));
        AssertKinds(group, [("groupName", K.String), ("workerType", K.String), ("replica", K.Number), ("minReplica", K.Number),
            ("maxReplica", K.Number), ("cpu", K.String), ("memory", K.String), ("queueName", K.String)]);
        Assert.Equal(2, group["replica"]!.GetValue<int>());
    }

    [Fact]
    public async Task ListRayCluster_pages_newest_first_with_1_based_pageNum_and_a_totalCount()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add(await api.CreateClusterAsync(ws, Bodies.Minimal($"c{i}")));
            host.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        created.Reverse();

        async Task<(List<string> Ids, int Total)> PageAsync(string query)
        {
            var json = (await api.RawGetAsync($"{Clusters(ws)}{query}")).EnsureOk().Json;
            return ([.. json["rayClusters"]!.AsArray().Select(c => c!["clusterId"]!.GetValue<string>())], json["totalCount"]!.GetValue<int>());
        }

        var p1 = await PageAsync("?pageNum=1&pageSize=2");
        var p2 = await PageAsync("?pageNum=2&pageSize=2");
        var p3 = await PageAsync("?pageNum=3&pageSize=2");
        var p4 = await PageAsync("?pageNum=4&pageSize=2");
        Assert.Equal(created[..2], p1.Ids);
        Assert.Equal(created[2..4], p2.Ids);
        Assert.Equal(created[4..], p3.Ids);
        Assert.Empty(p4.Ids);
        Assert.All(new[] { p1, p2, p3, p4 }, p => Assert.Equal(5, p.Total));

        // Defaults: pageNum 1, pageSize 20.
        Assert.Equal(created, (await PageAsync("")).Ids);
        Assert.Equal(created[..2], (await PageAsync("?pageSize=2")).Ids);

        var names = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray().Select(c => c!["name"]!.GetValue<string>());
        Assert.Equal(["c4", "c3", "c2", "c1", "c0"], names);
    }

    [Fact]
    public async Task ListRayCluster_order_is_stable_for_clusters_created_in_the_same_millisecond()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        // The fake clock stands still: every createTime is the same, so the id decides.
        var ids = new List<string>();
        for (var i = 0; i < 6; i++) ids.Add(await api.CreateClusterAsync(ws, Bodies.Minimal($"same{i}")));

        var seen = new List<string>();
        for (var page = 1; page <= 3; page++)
            seen.AddRange((await api.RawGetAsync($"{Clusters(ws)}?pageNum={page}&pageSize=2")).EnsureOk().Json["rayClusters"]!.AsArray()
                .Select(c => c!["clusterId"]!.GetValue<string>()));
        Assert.Equal(ids.Order(StringComparer.Ordinal).Reverse(), seen);
        var again = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray().Select(c => c!["clusterId"]!.GetValue<string>());
        Assert.Equal(seen, again);
    }

    [Fact]
    public async Task Older_pages_do_not_change_when_newer_clusters_are_created()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        for (var i = 0; i < 4; i++)
        {
            await api.CreateClusterAsync(ws, Bodies.Minimal($"old{i}"));
            host.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        var all = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray().Select(c => c!["clusterId"]!.GetValue<string>()).ToList();
        await api.CreateClusterAsync(ws, Bodies.Minimal("newest"));
        var now = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray().Select(c => c!["clusterId"]!.GetValue<string>()).ToList();
        Assert.Equal(all, now[1..]);
    }

    [Fact]
    public async Task Mutating_cluster_calls_answer_the_reference_shapes()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var path = $"{Clusters(ws)}/{id}";

        var update = (await api.RawPostAsync(path, """{"description":"x"}""")).EnsureOk();
        Assert.Equal(["requestId", "clusterId"], update.Json.Select(p => p.Key));
        Assert.Equal(id, update.Json["clusterId"]!.GetValue<string>());
        Assert.Equal(update.RequestIdHeader, update.Json["requestId"]!.GetValue<string>());

        foreach (var call in new[] { (HttpMethod.Post, path + "/start"), (HttpMethod.Post, path + "/stop"), (HttpMethod.Delete, path) })
        {
            var response = (await api.RawSendAsync(call.Item1, call.Item2, call.Item1 == HttpMethod.Post ? "{}" : null)).EnsureOk();
            Assert.Equal("application/json", response.MediaType);
            Assert.Equal(["requestId"], response.Json.Select(p => p.Key));
            Assert.Equal(response.RequestIdHeader, response.Json["requestId"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Start_and_stop_accept_calls_without_a_body_as_the_SDK_sends_them()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        (await api.RawSendAsync(HttpMethod.Post, $"{Clusters(ws)}/{id}/stop")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        (await api.RawSendAsync(HttpMethod.Post, $"{Clusters(ws)}/{id}/start")).EnsureOk();
        Assert.Equal("Starting", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Timestamps_are_epoch_milliseconds_of_the_server_clock()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var at = host.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var get = await api.GetClusterAsync(ws, id);
        Assert.Equal(at, get["createTime"]!.GetValue<long>());
        Assert.Matches(new Regex("^[0-9]{13}$"), get["createTime"]!.ToJsonString());
        host.Clock.Advance(TimeSpan.FromMinutes(3));
        (await api.RawPostAsync($"{Clusters(ws)}/{id}", """{"description":"later"}""")).EnsureOk();
        var updated = await api.GetClusterAsync(ws, id);
        Assert.Equal(at, updated["createTime"]!.GetValue<long>());
        Assert.Equal(at + 180_000, updated["modifiedTime"]!.GetValue<long>());
    }

    [Fact]
    public async Task Response_JSON_uses_the_exact_camelCase_wire_names()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var (id, _, _) = await ReferenceClusterAsync(api, ws);
        var body = (await api.RawGetAsync($"{Clusters(ws)}/{id}")).EnsureOk().Body;
        using var doc = JsonDocument.Parse(body);
        var names = new List<string>();
        void Collect(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
                foreach (var p in e.EnumerateObject()) { names.Add(p.Name); Collect(p.Value); }
            else if (e.ValueKind == JsonValueKind.Array)
                foreach (var x in e.EnumerateArray()) Collect(x);
        }
        Collect(doc.RootElement);
        Assert.All(names, n => Assert.True(char.IsLower(n[0]), $"'{n}' is not camelCase"));
        Assert.Contains("idleTimeoutSeconds", names);
        Assert.Contains("containerStateMessage", names);
    }
}
