using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Not-found, state, routing, size and paging errors, each in the Alibaba Cloud error body (semantics.md, Errors).</summary>
public sealed class ErrorResponseTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    // 404 for ids in the path

    [Theory]
    [InlineData("GET", "/api/v1/workspaces/{ws}")]
    [InlineData("DELETE", "/api/v1/workspaces/{ws}")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/rayCluster")]
    [InlineData("POST", "/api/v1/workspaces/{ws}/rayCluster")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/rayCluster/ray-0000000000000000")]
    [InlineData("POST", "/api/v1/workspaces/{ws}/rayCluster/ray-0000000000000000/start")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/queues")]
    [InlineData("DELETE", "/api/v1/workspaces/{ws}/queues/root_queue")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/networkServices")]
    [InlineData("POST", "/api/v1/workspaces/{ws}/networkServices")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/volumes")]
    [InlineData("DELETE", "/api/v1/workspaces/{ws}/volumes/vol-0000000000000000")]
    public async Task A_workspace_that_does_not_exist_is_InvalidWorkspace_NotFound_with_404(string method, string template)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var body = method == "POST" ? Bodies.Minimal().ToJsonString() : null;
        var response = await api.RawSendAsync(new HttpMethod(method), template.Replace("{ws}", UnknownWorkspace, StringComparison.Ordinal), body);
        AssertError(response, HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", UnknownWorkspace);
    }

    [Theory]
    [InlineData("GET", "")]
    [InlineData("POST", "")]
    [InlineData("DELETE", "")]
    [InlineData("POST", "/start")]
    [InlineData("POST", "/stop")]
    public async Task A_cluster_that_does_not_exist_is_InvalidRayCluster_NotFound_with_404(string method, string suffix)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = method == "POST" ? (suffix == "" ? """{"description":"x"}""" : "{}") : null;
        var response = await api.RawSendAsync(new HttpMethod(method), $"{Clusters(ws)}/{UnknownCluster}{suffix}", body);
        AssertError(response, HttpStatusCode.NotFound, "InvalidRayCluster.NotFound", UnknownCluster);
    }

    [Fact]
    public async Task A_deleted_cluster_is_InvalidRayCluster_NotFound_at_once()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        (await api.RawDeleteAsync($"{Clusters(ws)}/{id}")).EnsureOk();
        AssertError(await api.RawGetAsync($"{Clusters(ws)}/{id}"), HttpStatusCode.NotFound, "InvalidRayCluster.NotFound", id);
        AssertError(await api.RawDeleteAsync($"{Clusters(ws)}/{id}"), HttpStatusCode.NotFound, "InvalidRayCluster.NotFound", id);
        Assert.Empty((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());
    }

    [Fact]
    public async Task A_cluster_of_another_workspace_is_not_found_through_this_one()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var other = (await api.RawPostAsync("/api/v1/workspaces", JsonNode.Parse("""{"workspaceName":"other"}""")!)).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var id = await api.CreateClusterAsync(other, Bodies.Minimal());
        AssertError(await api.RawGetAsync($"{Clusters(ws)}/{id}"), HttpStatusCode.NotFound, "InvalidRayCluster.NotFound", id);
        (await api.RawGetAsync($"{Clusters(other)}/{id}")).EnsureOk();
    }

    [Fact]
    public async Task EditWorkspaceQueue_of_a_queue_that_does_not_exist_is_InvalidQueue_NotFound_with_404()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var response = await api.RawPostAsync("/api/v1/workspaces/queues/action/edit",
            new JsonObject { ["workspaceId"] = ws, ["workspaceQueueName"] = "nope", ["resourceSpec"] = new JsonObject { ["cu"] = 8 } });
        AssertError(response, HttpStatusCode.NotFound, "InvalidQueue.NotFound", "nope");
    }

    [Fact]
    public async Task EditWorkspaceQueue_in_a_workspace_that_does_not_exist_is_InvalidWorkspace_NotFound_with_404()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = await api.RawPostAsync("/api/v1/workspaces/queues/action/edit",
            new JsonObject { ["workspaceId"] = UnknownWorkspace, ["workspaceQueueName"] = "root_queue" });
        AssertError(response, HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", UnknownWorkspace);
    }

    [Fact]
    public async Task DeleteWorkspaceQueue_of_a_queue_that_does_not_exist_is_InvalidQueue_NotFound_with_404()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/nope"), HttpStatusCode.NotFound, "InvalidQueue.NotFound", "nope");
    }

    [Fact]
    public async Task Deleting_a_volume_that_does_not_exist_is_InvalidVolume_NotFound_with_404()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/volumes/vol-0123456789abcdef"),
            HttpStatusCode.NotFound, "InvalidVolume.NotFound", "vol-0123456789abcdef");
    }

    // 409 OperationDenied

    private static async Task<string> StoppingClusterAsync(ApiClient api, string ws)
    {
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        Assert.Equal("Stopping", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
        return id;
    }

    [Fact]
    public async Task Start_while_Stopping_is_OperationDenied_naming_the_state()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await StoppingClusterAsync(api, ws);
        AssertError(await api.RawPostAsync($"{Clusters(ws)}/{id}/start", "{}"), HttpStatusCode.Conflict, "OperationDenied", "Stopping");
    }

    [Fact]
    public async Task Update_while_Stopping_is_OperationDenied_naming_the_state_and_changes_nothing()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await StoppingClusterAsync(api, ws);
        AssertError(await api.RawPostAsync($"{Clusters(ws)}/{id}", """{"description":"changed"}"""), HttpStatusCode.Conflict, "OperationDenied", "Stopping");
        Assert.Null((await api.GetClusterAsync(ws, id))["description"]);
    }

    [Fact]
    public async Task Stop_naming_an_instanceId_that_is_not_the_current_instance_is_InvalidParameter()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var current = (await api.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>();
        AssertError(await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", new JsonObject { ["instanceId"] = id + "-zzzzzzzz" }),
            HttpStatusCode.BadRequest, "InvalidParameter", "instanceId", current);
        Assert.Equal("Starting", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", new JsonObject { ["instanceId"] = current })).EnsureOk();
        Assert.Equal("Stopping", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Deleting_a_queue_that_a_cluster_uses_is_OperationDenied()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync("/api/v1/workspaces/queues",
            new JsonObject { ["workspaceId"] = ws, ["workspaceQueueName"] = "dev_queue", ["resourceSpec"] = new JsonObject { ["cu"] = 8 } })).EnsureOk();
        var id = await api.CreateClusterAsync(ws, Bodies.Cluster().Set("workerSpec[2].queueName", "\"dev_queue\""));

        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/dev_queue"), HttpStatusCode.Conflict, "OperationDenied", "dev_queue", id);
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}/queues/root_queue"), HttpStatusCode.Conflict, "OperationDenied", "root_queue", id);
        var queues = (await api.RawGetAsync($"/api/v1/workspaces/{ws}/queues")).EnsureOk().Json["queues"]!.AsArray();
        Assert.Contains(queues, q => q!["queueName"]!.GetValue<string>() == "dev_queue");
    }

    [Fact]
    public async Task Deleting_a_workspace_that_has_clusters_is_OperationDenied()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        await api.CreateClusterAsync(ws, Bodies.Minimal());
        AssertError(await api.RawDeleteAsync($"/api/v1/workspaces/{ws}"), HttpStatusCode.Conflict, "OperationDenied", "1 Ray cluster");
        (await api.RawGetAsync($"/api/v1/workspaces/{ws}")).EnsureOk();
    }

    // Routing

    [Theory]
    [InlineData("GET", "/api/v1/nothing")]
    [InlineData("GET", "/nothing")]
    [InlineData("POST", "/api/v2/workspaces")]
    [InlineData("PUT", "/api/v1/workspaces/w-0000000000000000/rayJob")]
    [InlineData("GET", "/api/v1/workspaces/w-0000000000000000/rayCluster/ray-0000000000000000/nodes")]
    [InlineData("GET", "/openapi/v2.json")]
    public async Task An_unknown_route_is_InvalidApi_NotFound_with_404(string method, string path)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        AssertError(await api.RawSendAsync(new HttpMethod(method), path), HttpStatusCode.NotFound, "InvalidApi.NotFound", path);
    }

    [Theory]
    [InlineData("PUT", "/api/v1/workspaces/{ws}/rayCluster")]
    [InlineData("DELETE", "/api/v1/workspaces/{ws}/rayCluster")]
    [InlineData("PUT", "/api/v1/workspaces/{ws}/rayCluster/ray-0000000000000000")]
    [InlineData("PATCH", "/api/v1/workspaces/{ws}/rayCluster/ray-0000000000000000")]
    [InlineData("GET", "/api/v1/workspaces/{ws}/rayCluster/ray-0000000000000000/start")]
    [InlineData("DELETE", "/api/v1/workspaces")]
    [InlineData("POST", "/api/v1/releaseVersions")]
    [InlineData("GET", "/api/v1/workspaces/queues/action/edit")]
    public async Task A_wrong_method_on_a_known_route_is_InvalidApi_NotFound_with_404(string method, string template)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var path = template.Replace("{ws}", ws, StringComparison.Ordinal);
        AssertError(await api.RawSendAsync(new HttpMethod(method), path, method is "PUT" or "PATCH" ? "{}" : null),
            HttpStatusCode.NotFound, "InvalidApi.NotFound", method, path);
    }

    // Size

    [Fact]
    public async Task A_body_over_1_MiB_is_RequestEntityTooLarge_with_413()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal().Set("description", JsonValue.Create(new string('x', 1024 * 1024)).ToJsonString());
        AssertError(await api.RawPostAsync(Clusters(ws), body), HttpStatusCode.RequestEntityTooLarge, "RequestEntityTooLarge", "1 MiB");
        Assert.Empty((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());
    }

    [Fact]
    public async Task A_body_just_under_1_MiB_is_read()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        // Read and then refused by a rule, which shows it got past the size limit.
        var body = Bodies.Minimal().Set("description", JsonValue.Create(new string('x', 1000 * 1000)).ToJsonString());
        AssertFieldError(await api.RawPostAsync(Clusters(ws), body), "InvalidParameter", "description");
    }

    // Paging parameters

    [Theory]
    [InlineData("pageSize", "0")]
    [InlineData("pageSize", "101")]
    [InlineData("pageSize", "abc")]
    [InlineData("pageSize", "-1")]
    [InlineData("pageSize", "2.5")]
    [InlineData("pageNum", "0")]
    [InlineData("pageNum", "-1")]
    [InlineData("pageNum", "first")]
    public async Task ListRayCluster_with_a_page_parameter_out_of_range_is_InvalidParameter(string name, string value)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertError(await api.RawGetAsync($"{Clusters(ws)}?{name}={value}"), HttpStatusCode.BadRequest, "InvalidParameter", name);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("100")]
    public async Task ListRayCluster_accepts_pageSize_from_1_to_100(string pageSize)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawGetAsync($"{Clusters(ws)}?pageNum=1&pageSize={pageSize}")).EnsureOk();
    }

    [Theory]
    [InlineData("maxResults=0")]
    [InlineData("maxResults=101")]
    [InlineData("maxResults=x")]
    [InlineData("nextToken=abc")]
    [InlineData("nextToken=-1")]
    public async Task ListWorkspaces_with_a_paging_parameter_it_did_not_hand_out_is_InvalidParameter(string query)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        AssertError(await api.RawGetAsync("/api/v1/workspaces?" + query), HttpStatusCode.BadRequest, "InvalidParameter", query.Split('=')[0]);
    }

    // The envelope on success, too

    [Theory]
    [InlineData("/api/v1/workspaces")]
    [InlineData("/api/v1/workspaces/{ws}/rayCluster")]
    [InlineData("/api/v1/workspaces/{ws}/queues")]
    [InlineData("/api/v1/workspaces/{ws}/networkServices")]
    [InlineData("/api/v1/releaseVersions")]
    public async Task Every_success_response_carries_its_request_id_in_the_header_and_the_body(string template)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var first = (await api.RawGetAsync(template.Replace("{ws}", ws, StringComparison.Ordinal))).EnsureOk();
        var second = (await api.RawGetAsync(template.Replace("{ws}", ws, StringComparison.Ordinal))).EnsureOk();
        Assert.Equal("application/json", first.MediaType);
        Assert.Matches(UppercaseUuid(), first.RequestIdHeader!);
        Assert.Equal(first.RequestIdHeader, first.Json["requestId"]!.GetValue<string>());
        Assert.NotEqual(first.RequestIdHeader, second.RequestIdHeader);
    }

    [Fact]
    public async Task Every_error_has_a_distinct_request_id()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var a = AssertError(await api.RawGetAsync("/nope"), HttpStatusCode.NotFound, "InvalidApi.NotFound");
        var b = AssertError(await api.RawGetAsync("/nope"), HttpStatusCode.NotFound, "InvalidApi.NotFound");
        Assert.NotEqual(a["RequestId"]!.GetValue<string>(), b["RequestId"]!.GetValue<string>());
    }
}
