using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using static Rayfleet.Server.Tests.Support.ApiClient;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Api;

/// <summary>UpdateWorkspace (emr-api.md §10.3): a merge with CreateWorkspace's rules, admin only.</summary>
public sealed class UpdateWorkspaceTests
{
    private const string Path = "/api/v1/workspaces/update";
    private const string GpuType = "ecs.gn6i-c4g1.xlarge";

    private static async Task<string> CreateAsync(ApiClient api, string body) =>
        (await api.RawPostAsync("/api/v1/workspaces", body)).EnsureOk().Json["workspaceId"]!.GetValue<string>();

    private static async Task<JsonObject> ListedAsync(ApiClient api, string id) =>
        (await api.RawGetAsync("/api/v1/workspaces")).EnsureOk().Json["workspaces"]!.AsArray()
            .Single(w => w!["workspaceId"]!.GetValue<string>() == id)!.AsObject();

    private static async Task<JsonObject> RootQueueMaxAsync(ApiClient api, string id)
    {
        var queue = (await api.RawGetAsync($"/api/v1/workspaces/{id}/queues")).EnsureOk().Json["queues"]!.AsArray()
            .Single(q => q!["queueName"]!.GetValue<string>() == "root_queue")!;
        return JsonNode.Parse(queue["maxResource"]!.GetValue<string>())!.AsObject();
    }

    private static string Str(JsonNode? node) => node!.GetValue<string>();

    [Fact]
    public async Task UpdateWorkspace_answers_requestId_orderId_and_data_orderId_field_by_field()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team"}""");
        var response = (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["workspaceName"] = "renamed" })).EnsureOk();
        Assert.Equal("application/json", response.MediaType);
        var json = response.Json;
        Assert.Equal(["requestId", "orderId", "data"], json.Select(p => p.Key));
        AssertKinds(json, [("requestId", K.String), ("orderId", K.String), ("data", K.Object)]);
        Assert.Equal(response.RequestIdHeader, Str(json["requestId"]));
        Assert.Matches(UppercaseUuid(), Str(json["requestId"]));
        var data = json["data"]!.AsObject();
        Assert.Equal(["orderId"], data.Select(p => p.Key));
        Assert.Equal(K.String, Kind(data, "orderId"));
        Assert.Equal(Str(json["orderId"]), Str(data["orderId"]));
        Assert.False(string.IsNullOrEmpty(Str(json["orderId"])));
        Assert.Equal("renamed", Str((await ListedAsync(api, id))["workspaceName"]));
    }

    [Fact]
    public async Task A_request_as_the_CSharp_SDK_serializes_it_changes_what_it_sets_and_keeps_the_rest()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api,
            $$$"""{"workspaceName":"team","resourceSpec":{"cu":"16"},"gpuSpec":["{{{GpuType}}}"],"resourceGroupId":"rg-1","paymentType":"Pre","autoRenew":"false","tag":[{"key":"env","value":"dev"}]}""");
        // The SDK leaves unset top-level parameters out of the body but sends every key of a nested model, unset ones as null.
        var body = $$$"""
            {"workspaceId":"{{{id}}}","workspaceName":"renamed","ipWhiteList":["10.0.0.0/8","192.168.1.7","2001:db8::/32"],
             "subscription":{"autoRenew":"true","autoRenewPeriod":"1","autoRenewPeriodUnit":"Month","clientToken":null,
                             "duration":"12","paymentDurationUnit":"Month","queue":null},
             "gpuSubscription":{"autoRenew":null,"duration":null,"gpuMachineNum":null,"instanceId":null,"instanceTypeId":null,
                                "operation":null,"paymentDurationUnit":null}}
            """;
        (await api.RawPostAsync(Path, body)).EnsureOk();

        var listed = await ListedAsync(api, id);
        AssertKinds(listed, [
            ("workspaceName", K.String), ("resourceSpec", K.String), ("ipWhiteList", K.Array), ("gpuSpec", K.Array),
            ("resourceGroupId", K.String), ("paymentDurationUnit", K.String), ("duration", K.Number), ("autoRenew", K.True),
            ("autoRenewPeriod", K.Number), ("autoRenewPeriodUnit", K.String), ("tags", K.Array),
        ]);
        Assert.Equal("renamed", Str(listed["workspaceName"]));
        Assert.Equal(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"], listed["ipWhiteList"]!.AsArray().Select(Str));
        Assert.Equal((12, 1, "Month", "Month"),
            (listed["duration"]!.GetValue<int>(), listed["autoRenewPeriod"]!.GetValue<int>(), Str(listed["paymentDurationUnit"]), Str(listed["autoRenewPeriodUnit"])));
        // Kept: what the request did not set.
        Assert.Equal(("16cu", "rg-1", "Pre"), (Str(listed["resourceSpec"]), Str(listed["resourceGroupId"]), Str(listed["paymentType"])));
        Assert.Equal([GpuType], listed["gpuSpec"]!.AsArray().Select(Str));
        Assert.Equal("env", Str(Assert.Single(listed["tags"]!.AsArray())!["tagKey"]));
        Assert.Equal("16", Str((await RootQueueMaxAsync(api, id))["cu"]));
    }

    [Fact]
    public async Task Null_or_absent_fields_keep_every_value_and_a_present_list_replaces_the_whole_list()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, $$$"""{"workspaceName":"team","resourceSpec":{"cu":"16","gpu":1},"gpuSpec":["{{{GpuType}}}"],"resourceGroupId":"rg-1"}""");
        (await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","ipWhiteList":["10.0.0.0/8","10.1.0.0/16"],"subscription":{"duration":"3"}}""")).EnsureOk();
        var before = await ListedAsync(api, id);
        var queueBefore = await RootQueueMaxAsync(api, id);

        (await api.RawPostAsync(Path,
            $$$"""
            {"workspaceId":"{{{id}}}","workspaceName":null,"cu":null,"gpu":null,"gpuSpec":null,"resourceGroupId":null,"ipWhiteList":null,
             "subscription":null,"gpuSubscription":null}
            """)).EnsureOk();
        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id })).EnsureOk();
        var after = await ListedAsync(api, id);
        Assert.True(JsonNode.DeepEquals(before, after), $"before {before.ToJsonString()} after {after.ToJsonString()}");
        Assert.True(JsonNode.DeepEquals(queueBefore, await RootQueueMaxAsync(api, id)));

        (await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","ipWhiteList":["172.16.0.0/12"],"gpuSpec":[]}""")).EnsureOk();
        var replaced = await ListedAsync(api, id);
        Assert.Equal(["172.16.0.0/12"], replaced["ipWhiteList"]!.AsArray().Select(Str));
        Assert.Empty(replaced["gpuSpec"]!.AsArray());
        Assert.Equal(3, replaced["duration"]!.GetValue<int>());
    }

    [Fact]
    public async Task Cu_and_gpu_resize_the_root_queue_and_the_resourceSpec_and_admission_measures_against_them()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team","resourceSpec":{"cu":"16"}}""");
        var big = Bodies.Minimal("big").Set("headSpec.cpu", "\"24\"");
        AssertError(await api.RawPostAsync(Clusters(id), big), HttpStatusCode.BadRequest, "QuotaExceeded", "16 CU");

        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["cu"] = 32, ["gpu"] = 2 })).EnsureOk();
        Assert.Equal("32cu", Str((await ListedAsync(api, id))["resourceSpec"]));
        var max = await RootQueueMaxAsync(api, id);
        Assert.Equal(("32", "2"), (Str(max["cu"]), Str(max["gpu"])));
        (await api.RawPostAsync(Clusters(id), big)).EnsureOk();
    }

    [Fact]
    public async Task A_larger_cu_admits_a_cluster_that_waits_for_capacity_at_once()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team","resourceSpec":{"cu":"4"}}""");
        var first = await api.CreateClusterAsync(id, Bodies.Minimal("first").Set("headSpec.cpu", "\"4\"").Set("headSpec.memory", "\"16Gi\""));
        await api.WaitForClusterAsync(id, first, InState("Running"));
        var second = await api.CreateClusterAsync(id, Bodies.Minimal("second").Set("headSpec.cpu", "\"4\"").Set("headSpec.memory", "\"16Gi\""));
        await api.WaitForQuietAsync();
        Assert.Contains("Waiting for capacity", Str((await api.GetClusterAsync(id, second))["message"]), StringComparison.Ordinal);

        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["cu"] = 8 })).EnsureOk();
        // No clock step: the update itself wakes the waiting cluster, not a later resync.
        await api.WaitForQuietAsync();
        Assert.Equal(8m, await api.UsedCuAsync(id));
    }

    [Fact]
    public async Task Cu_or_gpu_below_what_running_clusters_hold_is_refused_naming_the_field()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team","resourceSpec":{"cu":"16","gpu":2}}""");
        var cluster = await api.CreateClusterAsync(id, JsonNode.Parse(
            $$$"""{"name":"gpu","headSpec":{"cpu":"4","memory":"16Gi"},"workerSpec":[{"groupName":"g","workerType":"GPU","gpuSpec":"{{{GpuType}}}","replica":1,"cpu":"4","memory":"15Gi"}]}""")!);
        await api.WaitForClusterAsync(id, cluster, InState("Running"));

        var json = AssertError(await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["cu"] = 6, ["gpu"] = 0 }),
            HttpStatusCode.BadRequest, "InvalidParameter", "cu", "8 CU", "gpu", "1 GPU");
        Assert.Equal(["cu", "gpu"], json["Errors"]!.AsArray().Select(e => Str(e!["Field"])));
        Assert.Equal(("16", "2"), (Str((await RootQueueMaxAsync(api, id))["cu"]), Str((await RootQueueMaxAsync(api, id))["gpu"])));
        Assert.Equal("16cu", Str((await ListedAsync(api, id))["resourceSpec"]));

        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["cu"] = 8, ["gpu"] = 1 })).EnsureOk();
        Assert.Equal(("8", "1"), (Str((await RootQueueMaxAsync(api, id))["cu"]), Str((await RootQueueMaxAsync(api, id))["gpu"])));
    }

    [Fact]
    public async Task Every_broken_rule_is_reported_at_once_naming_its_field()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team"}""");
        var body = $$$"""
            {"workspaceId":"{{{id}}}","workspaceName":"","cu":0,"gpu":-1,"gpuSpec":["ecs.none"],
             "ipWhiteList":["10.0.0.1/8","300.1.1.1","fe80::1%eth0","10.1","10.0.0.0/33",""],
             "subscription":{"autoRenew":"maybe","duration":"0","autoRenewPeriod":"x","queue":["no_such_queue"]},
             "gpuSubscription":{"duration":0,"gpuMachineNum":-1,"instanceTypeId":"ecs.none"}}
            """;
        var json = AssertError(await api.RawPostAsync(Path, body), HttpStatusCode.BadRequest, "InvalidParameter");
        var errors = json["Errors"]!.AsArray().Select(e => (Str(e!["Field"]), Str(e["Code"]))).ToHashSet();
        Assert.Equal(
            new HashSet<(string, string)>
            {
                ("workspaceName", "InvalidParameter"), ("cu", "InvalidParameter"), ("gpu", "InvalidParameter"),
                ("gpuSpec[0]", "InvalidGpuSpec.NotFound"),
                ("ipWhiteList[0]", "InvalidParameter"), ("ipWhiteList[1]", "InvalidParameter"), ("ipWhiteList[2]", "InvalidParameter"),
                ("ipWhiteList[3]", "InvalidParameter"), ("ipWhiteList[4]", "InvalidParameter"), ("ipWhiteList[5]", "InvalidParameter"),
                ("subscription.autoRenew", "InvalidParameter"), ("subscription.duration", "InvalidParameter"),
                ("subscription.autoRenewPeriod", "InvalidParameter"), ("subscription.queue[0]", "InvalidQueue.NotFound"),
                ("gpuSubscription.duration", "InvalidParameter"), ("gpuSubscription.gpuMachineNum", "InvalidParameter"),
                ("gpuSubscription.instanceTypeId", "InvalidGpuSpec.NotFound"),
            },
            errors);
        Assert.All(json["Errors"]!.AsArray(), e => Assert.Contains(Str(e!["Field"]), Str(e["Message"]), StringComparison.Ordinal));
        // A block with host bits set is told its first address.
        Assert.Contains("10.0.0.0/8", Str(json["Errors"]!.AsArray().Single(e => Str(e!["Field"]) == "ipWhiteList[0]")!["Message"]), StringComparison.Ordinal);
        Assert.Equal("team", Str((await ListedAsync(api, id))["workspaceName"]));

        AssertFieldError(await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["workspaceName"] = new string('n', 65) }), "InvalidParameter", "workspaceName");
        AssertFieldError(await api.RawPostAsync(Path, new JsonObject { ["workspaceName"] = "x" }), "MissingParameter.workspaceId", "workspaceId");
        AssertError(await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","cu":"8"}"""), HttpStatusCode.BadRequest, "InvalidParameter.JSON", "cu");
        AssertError(await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = UnknownWorkspace, ["workspaceName"] = "x" }),
            HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", UnknownWorkspace);
    }

    [Fact]
    public async Task CreateWorkspace_checks_gpuSpec_and_payment_terms_by_the_same_rules()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        AssertFieldError(await api.RawPostAsync("/api/v1/workspaces", """{"workspaceName":"x","gpuSpec":["ecs.none"]}"""), "InvalidGpuSpec.NotFound", "gpuSpec[0]");
        AssertFieldError(await api.RawPostAsync("/api/v1/workspaces", """{"workspaceName":"x","duration":"a year"}"""), "InvalidParameter", "duration");
        var id = await CreateAsync(api, """{"workspaceName":"x","duration":"12","autoRenew":"true","autoRenewPeriod":"1"}""");
        var listed = await ListedAsync(api, id);
        Assert.Equal((12, true, 1), (listed["duration"]!.GetValue<int>(), listed["autoRenew"]!.GetValue<bool>(), listed["autoRenewPeriod"]!.GetValue<int>()));
    }

    [Fact]
    public async Task Only_an_admin_may_update_a_workspace_and_a_refusal_leaks_nothing_and_changes_nothing()
    {
        using var host = new RayfleetHost();
        var admin = host.Api();
        var id = await CreateAsync(admin, """{"workspaceName":"team"}""");
        var key = await host.AddPrincipalAsync("owner");
        await host.AddMemberAsync(id, "owner", Roles.Owner);
        var owner = host.Api(key);

        foreach (var target in new[] { id, UnknownWorkspace })
        {
            var refused = await owner.PostAsync(Path, new { workspaceId = target, workspaceName = "taken" });
            Assert.Equal((HttpStatusCode.Forbidden, "Forbidden.RAM"), (refused.Status, refused.Code));
            Assert.Contains("emr-serverless-spark:UpdateWorkspace", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal("team", Str((await ListedAsync(admin, id))["workspaceName"]));

        var ok = (await admin.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["workspaceName"] = "renamed" })).EnsureOk();
        var audit = await host.AuditRowsAsync();
        var row = Assert.Single(audit, r => r.RequestId == ok.RequestIdHeader);
        Assert.Equal(("emr-serverless-spark:UpdateWorkspace", id, "Success", 200), (row.Action, row.WorkspaceId, row.Outcome, row.Status));
        Assert.Equal(2, audit.Count(r => r.Action == "emr-serverless-spark:UpdateWorkspace" && r.Outcome == "Forbidden.RAM"));
    }

    [Fact]
    public async Task The_update_route_is_not_read_as_a_workspace_id_and_a_workspace_named_update_is_updated_by_its_id()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"update"}""");
        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["workspaceName"] = "update-2" })).EnsureOk();
        Assert.Equal("update-2", Str((await api.RawGetAsync($"/api/v1/workspaces/{id}")).EnsureOk().Json["workspace"]!["workspaceName"]));

        // The workspace routes still read "update" as a workspace id for every other method and path.
        AssertError(await api.RawGetAsync("/api/v1/workspaces/update"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", "'update'");
        AssertError(await api.RawDeleteAsync("/api/v1/workspaces/update"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", "'update'");
        AssertError(await api.RawGetAsync("/api/v1/workspaces/update/queues"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", "'update'");
        // And the queue routes beside it keep theirs.
        (await api.RawPostAsync("/api/v1/workspaces/queues/action/edit",
            new JsonObject { ["workspaceId"] = id, ["workspaceQueueName"] = "root_queue", ["description"] = "d" })).EnsureOk();
    }

    [Fact]
    public async Task A_retry_with_the_same_clientToken_answers_the_first_response_and_changes_nothing_more()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = await CreateAsync(api, """{"workspaceName":"team"}""");
        var body = $$$"""{"workspaceId":"{{{id}}}","workspaceName":"first","subscription":{"clientToken":"tok-1","duration":null}}""";
        var first = (await api.RawPostAsync(Path, body)).EnsureOk();
        (await api.RawPostAsync(Path, new JsonObject { ["workspaceId"] = id, ["workspaceName"] = "second" })).EnsureOk();

        var retry = (await api.RawPostAsync(Path, body)).EnsureOk();
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal("second", Str((await ListedAsync(api, id))["workspaceName"]));
        // The top-level extension is the same token: same parameters answer the same response.
        var topLevel = (await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","workspaceName":"first","clientToken":"tok-1"}""")).EnsureOk();
        Assert.Equal(first.Body, topLevel.Body);

        AssertError(await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","workspaceName":"other","subscription":{"clientToken":"tok-1"}}"""),
            HttpStatusCode.BadRequest, "IdempotentParameterMismatch");
        AssertFieldError(await api.RawPostAsync(Path, $$$"""{"workspaceId":"{{{id}}}","clientToken":"a","subscription":{"clientToken":"b"}}"""),
            "InvalidParameter", "clientToken");
        // Two changes, two audit rows: the answers replayed changed nothing and recorded nothing.
        Assert.Equal(2, (await host.AuditRowsAsync()).Count(r => r.Action == "emr-serverless-spark:UpdateWorkspace" && r.Outcome == "Success"));
    }
}
