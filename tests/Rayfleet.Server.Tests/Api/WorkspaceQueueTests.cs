using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using static Rayfleet.Server.Tests.Support.ApiClient;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Workspaces (emr-api.md §10, plus get and delete) and workspace queues (§8).</summary>
public sealed class WorkspaceQueueTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    private static async Task<JsonObject> QueueAsync(ApiClient api, string ws, string name)
    {
        var queues = (await api.RawGetAsync($"/api/v1/workspaces/{ws}/queues")).EnsureOk().Json["queues"]!.AsArray();
        return queues.Single(q => q!["queueName"]!.GetValue<string>() == name)!.AsObject();
    }

    private static JsonObject Resources(JsonObject queue, string key)
    {
        Assert.Equal(K.String, Kind(queue, key));
        var parsed = JsonNode.Parse(queue[key]!.GetValue<string>())!.AsObject();
        Assert.Equal(["cpu", "memory", "cu", "gpu"], parsed.Select(p => p.Key));
        Assert.All(parsed, p => Assert.Equal(K.String, p.Value!.GetValueKind()));
        return parsed;
    }

    // Workspaces

    [Fact]
    public async Task The_first_start_creates_workspace_default_with_root_queue_of_the_configured_capacity()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        Assert.Matches("^w-[0-9a-f]{16}$", ws);
        var queue = await QueueAsync(api, ws, "root_queue");
        var max = Resources(queue, "maxResource");
        Assert.Equal(("64", "4", "64", "256Gi"),
            (max["cu"]!.GetValue<string>(), max["gpu"]!.GetValue<string>(), max["cpu"]!.GetValue<string>(), max["memory"]!.GetValue<string>()));
        var used = Resources(queue, "usedResource");
        Assert.Equal(("0", "0", "0"), (used["cu"]!.GetValue<string>(), used["gpu"]!.GetValue<string>(), used["cpu"]!.GetValue<string>()));
    }

    [Fact]
    public async Task CreateWorkspace_answers_ids_and_creates_its_root_queue()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = (await api.RawPostAsync("/api/v1/workspaces",
            JsonNode.Parse("""{"workspaceName":"team","resourceSpec":{"cu":"16","gpu":2},"paymentType":"PayAsYouGo","releaseType":"pro","tag":[{"key":"env","value":"dev"}]}""")!)).EnsureOk();
        var json = response.Json;
        Assert.Equal(["requestId", "workspaceId", "operationId"], json.Select(p => p.Key));
        Assert.Equal(response.RequestIdHeader, json["requestId"]!.GetValue<string>());
        var id = json["workspaceId"]!.GetValue<string>();
        Assert.Matches("^w-[0-9a-f]{16}$", id);
        Assert.StartsWith("op-", json["operationId"]!.GetValue<string>(), StringComparison.Ordinal);

        var max = Resources(await QueueAsync(api, id, "root_queue"), "maxResource");
        Assert.Equal(("16", "2"), (max["cu"]!.GetValue<string>(), max["gpu"]!.GetValue<string>()));
    }

    [Fact]
    public async Task CreateWorkspace_without_a_name_or_with_a_bad_cu_is_rejected_naming_each_field()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var json = AssertError(await api.RawPostAsync("/api/v1/workspaces", JsonNode.Parse("""{"resourceSpec":{"cu":"lots"}}""")!),
            HttpStatusCode.BadRequest, "MissingParameter.workspaceName", "workspaceName", "resourceSpec.cu");
        Assert.Equal(["workspaceName", "resourceSpec.cu"], json["Errors"]!.AsArray().Select(e => e!["Field"]!.GetValue<string>()));
        AssertFieldError(await api.RawPostAsync("/api/v1/workspaces", JsonNode.Parse("""{"workspaceName":"x","resourceSpec":{"cu":"0"}}""")!),
            "InvalidParameter", "resourceSpec.cu");
        AssertFieldError(await api.RawPostAsync("/api/v1/workspaces", JsonNode.Parse("""{"workspaceName":"x","resourceSpec":{"gpu":-1}}""")!),
            "InvalidParameter", "resourceSpec.gpu");
    }

    [Fact]
    public async Task GetWorkspace_answers_the_workspace_and_ListWorkspaces_items_have_the_reference_types()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = (await api.RawPostAsync("/api/v1/workspaces", JsonNode.Parse("""{"workspaceName":"team","resourceSpec":{"cu":"16"},"tag":[{"key":"env","value":"dev"}]}""")!))
            .EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var get = (await api.RawGetAsync($"/api/v1/workspaces/{id}")).EnsureOk().Json;
        AssertKinds(get, [("requestId", K.String), ("workspace", K.Object)]);
        var workspace = get["workspace"]!.AsObject();
        AssertKinds(workspace, [
            ("workspaceId", K.String), ("workspaceName", K.String), ("workspaceStatus", K.String), ("regionId", K.String),
            ("resourceSpec", K.String), ("paymentType", K.String), ("paymentStatus", K.String), ("createTime", K.Number),
            ("tags", K.Array),
        ]);
        Assert.Equal((id, "team", "RUNNING", "16cu"),
            (workspace["workspaceId"]!.GetValue<string>(), workspace["workspaceName"]!.GetValue<string>(),
             workspace["workspaceStatus"]!.GetValue<string>(), workspace["resourceSpec"]!.GetValue<string>()));
        var tag = Assert.Single(workspace["tags"]!.AsArray())!.AsObject();
        Assert.Equal(["tagKey", "tagValue"], tag.Select(p => p.Key));
        Assert.Equal(("env", "dev"), (tag["tagKey"]!.GetValue<string>(), tag["tagValue"]!.GetValue<string>()));

        var listed = (await api.RawGetAsync("/api/v1/workspaces")).EnsureOk().Json["workspaces"]!.AsArray()
            .Single(w => w!["workspaceId"]!.GetValue<string>() == id)!;
        Assert.True(JsonNode.DeepEquals(workspace, listed), $"Get {workspace.ToJsonString()} vs List {listed.ToJsonString()}");
    }

    [Fact]
    public async Task ListWorkspaces_pages_with_maxResults_and_nextToken()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var names = new List<string> { "default" };
        for (var i = 1; i <= 4; i++)
        {
            host.Clock.Advance(TimeSpan.FromSeconds(1));
            (await api.RawPostAsync("/api/v1/workspaces", new JsonObject { ["workspaceName"] = $"ws{i}" })).EnsureOk();
            names.Add($"ws{i}");
        }

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var query = "?maxResults=2" + (token is null ? "" : "&nextToken=" + token);
            var json = (await api.RawGetAsync("/api/v1/workspaces" + query)).EnsureOk().Json;
            AssertKinds(json, [("requestId", K.String), ("workspaces", K.Array), ("maxResults", K.Number), ("totalCount", K.Number)]);
            Assert.Equal(2, json["maxResults"]!.GetValue<int>());
            Assert.Equal(5, json["totalCount"]!.GetValue<int>());
            var items = json["workspaces"]!.AsArray();
            Assert.InRange(items.Count, 1, 2);
            seen.AddRange(items.Select(w => w!["workspaceName"]!.GetValue<string>()));
            var next = Kind(json, "nextToken");
            token = next == K.String ? json["nextToken"]!.GetValue<string>() : null;
            Assert.True(next is K.String or K.Null);
            pages++;
        }
        while (token is not null && pages < 10);

        Assert.Equal(3, pages);
        Assert.Equal(names, seen);
    }

    [Fact]
    public async Task ListWorkspaces_filters_by_name()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        (await api.RawPostAsync("/api/v1/workspaces", new JsonObject { ["workspaceName"] = "analytics-team" })).EnsureOk();
        var json = (await api.RawGetAsync("/api/v1/workspaces?name=analytics")).EnsureOk().Json;
        Assert.Equal(["analytics-team"], json["workspaces"]!.AsArray().Select(w => w!["workspaceName"]!.GetValue<string>()));
    }

    [Fact]
    public async Task DeleteWorkspace_removes_an_empty_workspace()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var id = (await api.RawPostAsync("/api/v1/workspaces", new JsonObject { ["workspaceName"] = "temp" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        (await api.RawPostAsync($"/api/v1/workspaces/{id}/networkServices", new JsonObject { ["name"] = "vpc" })).EnsureOk();
        var delete = (await api.RawDeleteAsync($"/api/v1/workspaces/{id}")).EnsureOk();
        Assert.Equal(["requestId"], delete.Json.Select(p => p.Key));
        AssertError(await api.RawGetAsync($"/api/v1/workspaces/{id}"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", id);
        AssertError(await api.RawGetAsync($"/api/v1/workspaces/{id}/queues"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", id);
        Assert.DoesNotContain(id, (await api.RawGetAsync("/api/v1/workspaces")).EnsureOk().Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteWorkspace_is_allowed_once_its_clusters_are_gone()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}"), HttpStatusCode.Conflict, "OperationDenied");
        (await api.RawDeleteAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        await Eventually.HoldsAsync(host, async () => (await api.RawDeleteAsync($"/api/v1/workspaces/{ws}")).Status == HttpStatusCode.OK);
        AssertError(await api.RawGetAsync($"/api/v1/workspaces/{ws}"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound");
    }

    // Queues

    [Fact]
    public async Task CreateWorkspaceQueue_answers_requestId_and_the_queue_is_listed_with_every_field()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var create = (await api.RawPostAsync("/api/v1/workspaces/queues", JsonNode.Parse($$$"""
            {"workspaceId":"{{{ws}}}","workspaceQueueName":"dev_queue","description":"Ray Cluster for dev.","queueCategory":"GPU",
             "paymentType":"PayAsYouGo","preheat":true,"gpuSpec":["ecs.gn7i-c8g1.2xlarge"],"instanceId":"w-x-gpu-quota-1",
             "environments":["dev"],"resourceSpec":{"cu":12.5,"maxCu":20,"gpu":2,"gpuMachineNum":1}}
            """)!)).EnsureOk();
        Assert.Equal(["requestId"], create.Json.Select(p => p.Key));
        Assert.Equal(create.RequestIdHeader, create.Json["requestId"]!.GetValue<string>());

        var list = (await api.RawGetAsync($"/api/v1/workspaces/{ws}/queues")).EnsureOk().Json;
        AssertKinds(list, [("requestId", K.String), ("queues", K.Array), ("maxResults", K.Number), ("totalCount", K.Number)]);
        Assert.Equal(2, list["totalCount"]!.GetValue<int>());
        var queue = list["queues"]!.AsArray().Single(q => q!["queueName"]!.GetValue<string>() == "dev_queue")!.AsObject();
        AssertKinds(queue, [
            ("queueName", K.String), ("workspaceId", K.String), ("regionId", K.String), ("queueStatus", K.String),
            ("queueType", K.String), ("queueScope", K.String), ("queueCategory", K.String), ("properties", K.String),
            ("environments", K.Array), ("maxResource", K.String), ("minResource", K.String), ("usedResource", K.String),
            ("paymentType", K.String), ("createTime", K.Number), ("preheat", K.True), ("gpuSpec", K.Array),
            ("gpuMachineNum", K.Number), ("instanceId", K.String), ("description", K.String),
        ]);
        Assert.Equal((ws, "RUNNING", "GPU", "Ray Cluster for dev.", "w-x-gpu-quota-1", 1),
            (queue["workspaceId"]!.GetValue<string>(), queue["queueStatus"]!.GetValue<string>(), queue["queueCategory"]!.GetValue<string>(),
             queue["description"]!.GetValue<string>(), queue["instanceId"]!.GetValue<string>(), queue["gpuMachineNum"]!.GetValue<int>()));
        Assert.Equal(["ecs.gn7i-c8g1.2xlarge"], queue["gpuSpec"]!.AsArray().Select(g => g!.GetValue<string>()));
        Assert.Equal(["dev"], queue["environments"]!.AsArray().Select(g => g!.GetValue<string>()));
        JsonNode.Parse(queue["queueScope"]!.GetValue<string>());
        var max = Resources(queue, "maxResource");
        Assert.Equal(("12.5", "2", "12.5", "50Gi"),
            (max["cu"]!.GetValue<string>(), max["gpu"]!.GetValue<string>(), max["cpu"]!.GetValue<string>(), max["memory"]!.GetValue<string>()));
        Resources(queue, "minResource");

        var filtered = (await api.RawGetAsync($"/api/v1/workspaces/{ws}/queues?environment=dev")).EnsureOk().Json["queues"]!.AsArray();
        Assert.Equal(["dev_queue"], filtered.Select(q => q!["queueName"]!.GetValue<string>()));
    }

    [Fact]
    public async Task CreateWorkspaceQueue_rules_are_reported_naming_the_field()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        const string path = "/api/v1/workspaces/queues";
        AssertFieldError(await api.RawPostAsync(path, new JsonObject { ["workspaceQueueName"] = "q" }), "MissingParameter.workspaceId", "workspaceId");
        AssertFieldError(await api.RawPostAsync(path, new JsonObject { ["workspaceId"] = ws, ["workspaceQueueName"] = "q" }),
            "MissingParameter.resourceSpec.cu", "resourceSpec.cu");
        AssertFieldError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"q","resourceSpec":{"cu":0}}""")!),
            "InvalidParameter", "resourceSpec.cu");
        AssertFieldError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"bad name","resourceSpec":{"cu":1}}""")!),
            "InvalidParameter", "workspaceQueueName");
        AssertFieldError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"root_queue","resourceSpec":{"cu":1}}""")!),
            "InvalidParameter", "workspaceQueueName");
        AssertFieldError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"q","queueCategory":"TPU","resourceSpec":{"cu":1}}""")!),
            "InvalidParameter", "queueCategory");
        AssertError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"q","resourceSpec":{"cu":"ten"}}""")!),
            HttpStatusCode.BadRequest, "InvalidParameter.JSON", "resourceSpec.cu");
        AssertError(await api.RawPostAsync(path, JsonNode.Parse($$$"""{"workspaceId":"{{{UnknownWorkspace}}}","workspaceQueueName":"q","resourceSpec":{"cu":1}}""")!),
            HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", UnknownWorkspace);
    }

    [Fact]
    public async Task EditWorkspaceQueue_answers_a_capitalised_RequestId_and_changes_the_capacity()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var edit = (await api.RawPostAsync("/api/v1/workspaces/queues/action/edit",
            JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"root_queue","description":"edited","resourceSpec":{"cu":32,"gpu":1}}""")!)).EnsureOk();
        Assert.Equal(["RequestId"], edit.Json.Select(p => p.Key));
        Assert.Equal(edit.RequestIdHeader, edit.Json["RequestId"]!.GetValue<string>());
        Assert.Matches(UppercaseUuid(), edit.Json["RequestId"]!.GetValue<string>());

        var queue = await QueueAsync(api, ws, "root_queue");
        var max = Resources(queue, "maxResource");
        Assert.Equal(("32", "1"), (max["cu"]!.GetValue<string>(), max["gpu"]!.GetValue<string>()));
        Assert.Equal("edited", queue["description"]!.GetValue<string>());

        // The new capacity is what admission measures against now.
        AssertError(await api.RawPostAsync(Clusters(ws), Bodies.Minimal().Set("headSpec.cpu", "\"33\"")), HttpStatusCode.BadRequest, "QuotaExceeded", "32 CU");
    }

    [Fact]
    public async Task DeleteWorkspaceQueue_answers_a_capitalised_RequestId_and_removes_the_queue()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync("/api/v1/workspaces/queues", JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"dev_queue","resourceSpec":{"cu":4}}""")!)).EnsureOk();
        var delete = (await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/dev_queue")).EnsureOk();
        Assert.Equal(["RequestId"], delete.Json.Select(p => p.Key));
        Assert.Equal(delete.RequestIdHeader, delete.Json["RequestId"]!.GetValue<string>());
        var names = (await api.RawGetAsync($"/api/v1/workspaces/{ws}/queues")).EnsureOk().Json["queues"]!.AsArray().Select(q => q!["queueName"]!.GetValue<string>());
        Assert.Equal(["root_queue"], names);
        AssertFieldError(await api.RawPostAsync(Clusters(ws), Bodies.Minimal().Set("headSpec.queueName", "\"dev_queue\"")),
            "InvalidQueue.NotFound", "headSpec.queueName");
    }

    [Fact]
    public async Task DeleteWorkspaceQueue_is_allowed_once_the_cluster_that_used_it_is_gone()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync("/api/v1/workspaces/queues", JsonNode.Parse($$$"""{"workspaceId":"{{{ws}}}","workspaceQueueName":"dev_queue","resourceSpec":{"cu":4}}""")!)).EnsureOk();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal().Set("headSpec.queueName", "\"dev_queue\""));
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/dev_queue"), HttpStatusCode.Conflict, "OperationDenied", id);
        (await api.RawDeleteAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        await Eventually.HoldsAsync(host, async () => (await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/dev_queue")).Status == HttpStatusCode.OK);
    }

    [Fact]
    public async Task ListWorkspaceQueues_reports_usedResource_live_as_JSON_strings()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, JsonNode.Parse(
            """
            {"name":"usage","headSpec":{"cpu":"2","memory":"8Gi"},
             "workerSpec":[{"groupName":"cpu","replica":2,"cpu":"4","memory":"8Gi"},
                           {"groupName":"gpu","workerType":"GPU","gpuSpec":"ecs.gn6i-c4g1.xlarge","replica":1,"cpu":"4","memory":"15Gi"}]}
            """)!);
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        var used = Resources(await QueueAsync(api, ws, "root_queue"), "usedResource");
        // CU: head 2 + 2 x max(4, 2) + max(4, 3.75) = 14; cores 14; memory 8 + 16 + 15 = 39Gi; one GPU.
        Assert.Equal(("14", "14", "39Gi", "1"),
            (used["cu"]!.GetValue<string>(), used["cpu"]!.GetValue<string>(), used["memory"]!.GetValue<string>(), used["gpu"]!.GetValue<string>()));

        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        var released = Resources(await QueueAsync(api, ws, "root_queue"), "usedResource");
        Assert.Equal(("0", "0"), (released["cu"]!.GetValue<string>(), released["gpu"]!.GetValue<string>()));
    }
}
