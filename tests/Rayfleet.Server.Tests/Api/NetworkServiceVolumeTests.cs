using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Network services (emr-api.md §9) and volumes (Rayfleet extension).</summary>
public sealed class NetworkServiceVolumeTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    private static string NetworkServices(string ws) => $"/api/v1/workspaces/{ws}/networkServices";
    private static string Volumes(string ws) => $"/api/v1/workspaces/{ws}/volumes";

    // Network services

    [Fact]
    public async Task CreateNetworkService_answers_requestId_and_operationId_and_the_service_is_listed()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var create = (await api.RawPostAsync(NetworkServices(ws), JsonNode.Parse(
            """{"name":"vpc_test","type":"NetworkService","vpcId":"vpc-bp1vt6r7o1w4tw7j6","vswitchIds":["vsw-1","vsw-2"],"securityGroupId":"sg-1"}""")!)).EnsureOk();
        var json = create.Json;
        AssertKinds(json, [("requestId", K.String), ("operationId", K.String)]);
        Assert.Equal(create.RequestIdHeader, json["requestId"]!.GetValue<string>());
        Assert.StartsWith("op-", json["operationId"]!.GetValue<string>(), StringComparison.Ordinal);
        var id = json["networkServiceId"]!.GetValue<string>();
        Assert.Matches("^ns-[0-9a-f]{16}$", id);

        var list = (await api.RawGetAsync(NetworkServices(ws))).EnsureOk().Json;
        AssertKinds(list, [("requestId", K.String), ("networkServices", K.Array), ("queues", K.Array), ("maxResults", K.Number), ("totalCount", K.Number)]);
        Assert.Equal(1, list["totalCount"]!.GetValue<int>());
        var item = Assert.Single(list["networkServices"]!.AsArray())!.AsObject();
        AssertKinds(item, [
            ("name", K.String), ("networkServiceId", K.String), ("state", K.String), ("stateChangeReason", K.Object),
            ("type", K.String), ("vpcId", K.String), ("vswitchIds", K.Array), ("workspaceId", K.String),
        ]);
        Assert.Equal(("vpc_test", id, "running", "NetworkService", "vpc-bp1vt6r7o1w4tw7j6", ws),
            (item["name"]!.GetValue<string>(), item["networkServiceId"]!.GetValue<string>(), item["state"]!.GetValue<string>(),
             item["type"]!.GetValue<string>(), item["vpcId"]!.GetValue<string>(), item["workspaceId"]!.GetValue<string>()));
        Assert.Equal(["vsw-1", "vsw-2"], item["vswitchIds"]!.AsArray().Select(v => v!.GetValue<string>()));
        var reason = item["stateChangeReason"]!.AsObject();
        Assert.True(reason.ContainsKey("code") && reason.ContainsKey("message"));
        // The deprecated "queues" carries the same items.
        Assert.True(JsonNode.DeepEquals(list["networkServices"], list["queues"]));
    }

    [Fact]
    public async Task A_network_service_without_a_type_is_a_NetworkService()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        var item = (await api.RawGetAsync(NetworkServices(ws))).EnsureOk().Json["networkServices"]![0]!.AsObject();
        Assert.Equal("NetworkService", item["type"]!.GetValue<string>());
        Assert.Empty(item["vswitchIds"]!.AsArray());
    }

    [Fact]
    public async Task CreateNetworkService_rules_are_reported_naming_the_field()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertFieldError(await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["vpcId"] = "vpc-1" }), "MissingParameter.name", "name");
        AssertFieldError(await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = new string('n', 65) }), "InvalidParameter", "name");
        AssertFieldError(await api.RawPostAsync(NetworkServices(ws), JsonNode.Parse("""{"name":"x","vswitchIds":["vsw-1",""]}""")!), "InvalidParameter", "vswitchIds");
        (await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        AssertFieldError(await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" }), "InvalidParameter", "name");
        AssertError(await api.RawPostAsync(NetworkServices(ws), """{"name":"y","vswitchIds":"vsw-1"}"""), HttpStatusCode.BadRequest, "InvalidParameter.JSON", "vswitchIds");
        Assert.Single((await api.RawGetAsync(NetworkServices(ws))).EnsureOk().Json["networkServices"]!.AsArray());
    }

    [Fact]
    public async Task Network_services_belong_to_their_workspace()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var other = (await api.RawPostAsync("/api/v1/workspaces", new JsonObject { ["workspaceName"] = "other" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        (await api.RawPostAsync(NetworkServices(other), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        Assert.Empty((await api.RawGetAsync(NetworkServices(ws))).EnsureOk().Json["networkServices"]!.AsArray());
        AssertFieldError(await api.RawPostAsync(Clusters(ws), Bodies.Minimal().Set("networkServiceName", "\"vpc\"")),
            "InvalidNetworkService.NotFound", "networkServiceName");
        (await api.RawPostAsync(Clusters(other), Bodies.Minimal().Set("networkServiceName", "\"vpc\""))).EnsureOk();
    }

    // Volumes

    [Fact]
    public async Task Volumes_are_created_listed_and_deleted()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var create = (await api.RawPostAsync(Volumes(ws), JsonNode.Parse("""{"name":"data","kind":"pvc","source":"shared-data","mountPath":"/mnt/data"}""")!)).EnsureOk();
        Assert.Equal(["requestId", "volumeId"], create.Json.Select(p => p.Key));
        Assert.Equal(create.RequestIdHeader, create.Json["requestId"]!.GetValue<string>());
        var id = create.Json["volumeId"]!.GetValue<string>();
        Assert.Matches("^vol-[0-9a-f]{16}$", id);
        (await api.RawPostAsync(Volumes(ws), JsonNode.Parse("""{"name":"scratch","kind":"hostPath","source":"/tmp/scratch","mountPath":"/scratch"}""")!)).EnsureOk();

        var list = (await api.RawGetAsync(Volumes(ws))).EnsureOk().Json;
        AssertKinds(list, [("requestId", K.String), ("volumes", K.Array), ("totalCount", K.Number)]);
        Assert.Equal(2, list["totalCount"]!.GetValue<int>());
        var volume = list["volumes"]!.AsArray().Single(v => v!["volumeId"]!.GetValue<string>() == id)!.AsObject();
        AssertKinds(volume, [("volumeId", K.String), ("workspaceId", K.String), ("name", K.String), ("kind", K.String),
            ("source", K.String), ("mountPath", K.String), ("createTime", K.Number)]);
        Assert.Equal((ws, "data", "pvc", "shared-data", "/mnt/data"),
            (volume["workspaceId"]!.GetValue<string>(), volume["name"]!.GetValue<string>(), volume["kind"]!.GetValue<string>(),
             volume["source"]!.GetValue<string>(), volume["mountPath"]!.GetValue<string>()));

        var delete = (await api.RawDeleteAsync($"{Volumes(ws)}/{id}")).EnsureOk();
        Assert.Equal(["requestId"], delete.Json.Select(p => p.Key));
        var after = (await api.RawGetAsync(Volumes(ws))).EnsureOk().Json;
        Assert.Equal(["scratch"], after["volumes"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));
        AssertError(await api.RawDeleteAsync($"{Volumes(ws)}/{id}"), HttpStatusCode.NotFound, "InvalidVolume.NotFound", id);
    }

    [Theory]
    [InlineData("""{"kind":"pvc","source":"s","mountPath":"/m"}""", "MissingParameter.name", "name")]
    [InlineData("""{"name":"v","source":"s","mountPath":"/m"}""", "MissingParameter.kind", "kind")]
    [InlineData("""{"name":"v","kind":"nfs","source":"s","mountPath":"/m"}""", "InvalidParameter", "kind")]
    [InlineData("""{"name":"v","kind":"pvc","mountPath":"/m"}""", "MissingParameter.source", "source")]
    [InlineData("""{"name":"v","kind":"hostPath","source":"relative/dir","mountPath":"/m"}""", "InvalidParameter", "source")]
    [InlineData("""{"name":"v","kind":"pvc","source":"s"}""", "MissingParameter.mountPath", "mountPath")]
    [InlineData("""{"name":"v","kind":"pvc","source":"s","mountPath":"m"}""", "InvalidParameter", "mountPath")]
    public async Task CreateVolume_rules_are_reported_naming_the_field(string body, string code, string field)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        AssertFieldError(await api.RawPostAsync(Volumes(ws), body), code, field);
        Assert.Empty((await api.RawGetAsync(Volumes(ws))).EnsureOk().Json["volumes"]!.AsArray());
    }

    [Fact]
    public async Task A_volume_mounted_by_a_cluster_cannot_be_deleted()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var volume = (await api.RawPostAsync(Volumes(ws), JsonNode.Parse("""{"name":"data","kind":"pvc","source":"d","mountPath":"/data"}""")!))
            .EnsureOk().Json["volumeId"]!.GetValue<string>();
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal().Set("volumeIds", $"[\"{volume}\"]"));
        AssertError(await api.RawDeleteAsync($"{Volumes(ws)}/{volume}"), HttpStatusCode.Conflict, "OperationDenied", volume, id);
        Assert.Single((await api.RawGetAsync(Volumes(ws))).EnsureOk().Json["volumes"]!.AsArray());

        // Unmounting it (a present volumeIds replaces the list) makes it deletable once the running instance lets go.
        (await api.RawPostAsync($"{Clusters(ws)}/{id}", """{"volumeIds":[]}""")).EnsureOk();
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Stopped"));
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/start", "{}")).EnsureOk();
        (await api.RawDeleteAsync($"{Volumes(ws)}/{volume}")).EnsureOk();
    }

    [Fact]
    public async Task Listing_a_volume_twice_in_a_cluster_is_rejected()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var volume = (await api.RawPostAsync(Volumes(ws), JsonNode.Parse("""{"name":"data","kind":"pvc","source":"d","mountPath":"/data"}""")!))
            .EnsureOk().Json["volumeId"]!.GetValue<string>();
        AssertFieldError(await api.RawPostAsync(Clusters(ws), Bodies.Minimal().Set("volumeIds", $"[\"{volume}\",\"{volume}\"]")), "InvalidParameter", "volumeIds[1]");
    }
}
