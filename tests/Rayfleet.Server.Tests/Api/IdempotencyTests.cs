using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Api;

/// <summary>clientToken (semantics.md, Lifecycle): same token and parameters answer the first response; other parameters fail.</summary>
public sealed class IdempotencyTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    [Fact]
    public async Task CreateRayCluster_with_the_same_clientToken_and_parameters_returns_the_first_response()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var token = Guid.NewGuid().ToString();
        var first = (await api.RawPostAsync(Clusters(ws), Bodies.Cluster().Set("clientToken", $"\"{token}\""))).EnsureOk();
        var again = (await api.RawPostAsync(Clusters(ws), Bodies.Cluster().Set("clientToken", $"\"{token}\""))).EnsureOk();

        Assert.Equal(first.Json["clusterId"]!.GetValue<string>(), again.Json["clusterId"]!.GetValue<string>());
        Assert.Equal(first.Body, again.Body);
        Assert.Equal(first.Json["requestId"]!.GetValue<string>(), again.Json["requestId"]!.GetValue<string>());
        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json;
        Assert.Equal(1, list["totalCount"]!.GetValue<int>());
    }

    [Fact]
    public async Task CreateRayCluster_with_the_same_clientToken_and_other_parameters_is_IdempotentParameterMismatch()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var token = Guid.NewGuid().ToString();
        (await api.RawPostAsync(Clusters(ws), Bodies.Cluster("first").Set("clientToken", $"\"{token}\""))).EnsureOk();
        var response = await api.RawPostAsync(Clusters(ws), Bodies.Cluster("second").Set("clientToken", $"\"{token}\""));
        AssertError(response, HttpStatusCode.BadRequest, "IdempotentParameterMismatch", "clientToken");
        var list = (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json;
        Assert.Equal(["first"], list["rayClusters"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\"tab\\there\"")]
    [InlineData("\"ü-not-ascii\"")]
    [InlineData("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"")] // 65
    public async Task A_clientToken_that_is_empty_too_long_or_not_printable_ascii_is_InvalidParameter_and_creates_nothing(string token)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var refused = await api.RawPostAsync(Clusters(ws), Bodies.Cluster().Set("clientToken", token));
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Equal("InvalidParameter", refused.Json["Code"]!.GetValue<string>());
        Assert.Contains("clientToken", refused.Json["Message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, (await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["totalCount"]!.GetValue<int>());
        var longest = new string('a', 64);
        (await api.RawPostAsync(Clusters(ws), Bodies.Cluster().Set("clientToken", $"\"{longest}\""))).EnsureOk();
    }

    [Fact]
    public async Task CreateRayCluster_without_a_clientToken_creates_a_new_cluster_each_time()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var a = (await api.RawPostAsync(Clusters(ws), Bodies.Cluster())).EnsureOk().Json["clusterId"]!.GetValue<string>();
        var b = (await api.RawPostAsync(Clusters(ws), Bodies.Cluster())).EnsureOk().Json["clusterId"]!.GetValue<string>();
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task The_replay_answers_the_first_response_even_after_the_state_changed()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        var token = Guid.NewGuid().ToString();
        var body = $$"""{"clientToken":"{{token}}"}""";
        var first = (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", body)).EnsureOk();
        // The reconciler may already have finished the stop of a cluster whose nodes had not started.
        Assert.Contains((await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>(), new[] { "Stopping", "Stopped" });
        var again = (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", body)).EnsureOk();
        Assert.Equal(first.Body, again.Body);
    }

    [Fact]
    public async Task StartRayCluster_replays_with_the_same_token_and_does_not_start_a_second_instance()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Stopped"));

        var body = $$"""{"clientToken":"c533e141-bf99-4236-8b6b-30e133db113c"}""";
        var first = (await api.RawPostAsync($"{Clusters(ws)}/{id}/start", body)).EnsureOk();
        var instance = (await api.GetClusterAsync(ws, id))["instanceId"]!.GetValue<string>();
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Running"));
        (await api.RawPostAsync($"{Clusters(ws)}/{id}/stop", "{}")).EnsureOk();
        await api.WaitForClusterAsync(ws, id, ApiClient.InState("Stopped"));

        // The same token again is the same call: answered from the record, the cluster stays stopped.
        var again = (await api.RawPostAsync($"{Clusters(ws)}/{id}/start", body)).EnsureOk();
        Assert.Equal(first.Body, again.Body);
        var after = await api.GetClusterAsync(ws, id);
        Assert.Equal("Stopped", after["state"]!.GetValue<string>());
        Assert.Equal(instance, after["instanceId"]!.GetValue<string>());
    }

    [Fact]
    public async Task UpdateRayCluster_with_the_same_token_and_other_parameters_is_IdempotentParameterMismatch()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Minimal());
        (await api.RawPostAsync($"{Clusters(ws)}/{id}", """{"description":"one","clientToken":"t-1"}""")).EnsureOk();
        AssertError(await api.RawPostAsync($"{Clusters(ws)}/{id}", """{"description":"two","clientToken":"t-1"}"""),
            HttpStatusCode.BadRequest, "IdempotentParameterMismatch");
        Assert.Equal("one", (await api.GetClusterAsync(ws, id))["description"]!.GetValue<string>());
    }

    [Fact]
    public async Task CreateWorkspace_with_the_same_clientToken_returns_the_same_workspace()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var body = JsonNode.Parse("""{"workspaceName":"team","resourceSpec":{"cu":"16"},"clientToken":"acaf8f54-d40e-4c33-a900-f6c1b345cb47"}""")!;
        var first = (await api.RawPostAsync("/api/v1/workspaces", body)).EnsureOk();
        var again = (await api.RawPostAsync("/api/v1/workspaces", body)).EnsureOk();
        Assert.Equal(first.Json["workspaceId"]!.GetValue<string>(), again.Json["workspaceId"]!.GetValue<string>());
        Assert.Equal(first.Body, again.Body);
        var list = (await api.RawGetAsync("/api/v1/workspaces")).EnsureOk().Json;
        Assert.Single(list["workspaces"]!.AsArray(), w => w!["workspaceName"]!.GetValue<string>() == "team");

        var other = JsonNode.Parse("""{"workspaceName":"team2","clientToken":"acaf8f54-d40e-4c33-a900-f6c1b345cb47"}""")!;
        AssertError(await api.RawPostAsync("/api/v1/workspaces", other), HttpStatusCode.BadRequest, "IdempotentParameterMismatch");
    }

    [Fact]
    public async Task CreateNetworkService_with_the_same_clientToken_returns_the_same_network_service()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var path = $"/api/v1/workspaces/{ws}/networkServices";
        var body = JsonNode.Parse("""{"name":"vpc","vpcId":"vpc-1","clientToken":"ns-token"}""")!;
        var first = (await api.RawPostAsync(path, body)).EnsureOk();
        var again = (await api.RawPostAsync(path, body)).EnsureOk();
        Assert.Equal(first.Body, again.Body);
        Assert.Single((await api.RawGetAsync(path)).EnsureOk().Json["networkServices"]!.AsArray());

        AssertError(await api.RawPostAsync(path, JsonNode.Parse("""{"name":"vpc2","clientToken":"ns-token"}""")!),
            HttpStatusCode.BadRequest, "IdempotentParameterMismatch");
    }

    [Fact]
    public async Task A_clientToken_is_forgotten_after_24_hours()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        (await api.RawPostAsync(Clusters(ws), Bodies.Cluster("first").Set("clientToken", "\"day-token\""))).EnsureOk();
        host.Clock.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));
        var second = (await api.RawPostAsync(Clusters(ws), Bodies.Cluster("second").Set("clientToken", "\"day-token\""))).EnsureOk();
        Assert.Equal("second", (await api.GetClusterAsync(ws, second.Json["clusterId"]!.GetValue<string>()))["name"]!.GetValue<string>());
    }
}
