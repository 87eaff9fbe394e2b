using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Out-of-range input on the wire: refused with InvalidParameter naming the field and the limit, nothing kept.</summary>
public sealed class InputBoundsTests
{
    private static async Task<(RayfleetHost Host, ApiClient Api, string Ws)> StartAsync()
    {
        var host = new RayfleetHost();
        var api = host.Api();
        return (host, api, await api.DefaultWorkspaceAsync());
    }

    private static async Task AssertNoClusterAsync(ApiClient api, string ws)
    {
        Assert.Empty((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());
        Assert.Equal(0m, await api.UsedCuAsync(ws));
    }

    [Fact]
    public async Task A_group_of_60000_workers_of_1m_cpu_is_refused_naming_the_limit_and_nothing_is_stored()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal();
        body["workerSpec"] = new JsonArray { Bodies.Group("g", replica: 60_000, cpu: "1m", memory: "1Mi") };

        var json = AssertFieldError(await api.RawPostAsync(Clusters(ws), body), "InvalidParameter", "workerSpec");

        Assert.Contains("at most 2000 nodes", json["Message"]!.GetValue<string>(), StringComparison.Ordinal);
        await AssertNoClusterAsync(api, ws);
    }

    [Fact]
    public async Task An_update_past_the_node_limit_is_refused_and_keeps_the_cluster_as_it_was()
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var id = await api.CreateClusterAsync(ws, Bodies.Cluster());
        var patch = new JsonObject { ["workerSpec"] = new JsonArray { Bodies.Group("g0", replica: 2000, cpu: "1m", memory: "1Mi") } };

        AssertFieldError(await api.RawPostAsync($"{Clusters(ws)}/{id}", patch), "InvalidParameter", "workerSpec");

        Assert.Equal(3, (await api.GetClusterAsync(ws, id))["workerSpec"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("headSpec.env", "64")]
    [InlineData("headSpec.rayStartParams", "2048")]
    [InlineData("extraParam", "16384")]
    public async Task An_oversized_free_text_field_is_refused_naming_it_and_its_limit(string field, string limit)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal();
        var value = field switch
        {
            "headSpec.env" => string.Join("\n", Enumerable.Range(0, 65).Select(i => $"V{i}=1")),
            "headSpec.rayStartParams" => "--f=" + new string('v', 2045),
            _ => "{\"k\":\"" + new string('x', 16_378) + "\"}",
        };
        body.Set(field, JsonValue.Create(value).ToJsonString());

        var json = AssertFieldError(await api.RawPostAsync(Clusters(ws), body), "InvalidParameter", field);

        Assert.Contains(limit, json["Message"]!.GetValue<string>(), StringComparison.Ordinal);
        await AssertNoClusterAsync(api, ws);
    }

    [Theory]
    [InlineData("""{"simulated":{"startDelaySeconds":1e12}}""", "extraParam.simulated.startDelaySeconds")]
    [InlineData("""{"simulated":{"startDelaySeconds":1e300}}""", "extraParam.simulated.startDelaySeconds")]
    [InlineData("""{"simulated":{"failAfterSeconds":-1}}""", "extraParam.simulated.failAfterSeconds")]
    [InlineData("""{"simulated":{"failOnStart":"yes"}}""", "extraParam.simulated.failOnStart")]
    [InlineData("""{"simulated":{"busyWorkers":{"g":1e9}}}""", "extraParam.simulated.busyWorkers.g")]
    public async Task An_out_of_range_simulated_knob_is_refused_at_the_api_and_holds_no_quota(string extraParam, string field)
    {
        var (host, api, ws) = await StartAsync();
        using var _ = host;
        var body = Bodies.Minimal();
        body["extraParam"] = extraParam;

        AssertFieldError(await api.RawPostAsync(Clusters(ws), body), "InvalidParameter", field);

        await AssertNoClusterAsync(api, ws);
    }

    [Theory]
    [InlineData("since=abc", "since")]
    [InlineData("until=x", "until")]
    [InlineData("since=-1", "since")]
    [InlineData("since=99999999999999999999", "since")]
    [InlineData("until=253402300800000", "until")]
    [InlineData("since=1.5", "since")]
    [InlineData("since=%201", "since")]
    public async Task An_audit_time_that_is_not_epoch_milliseconds_is_InvalidParameter_naming_it(string query, string parameter)
    {
        using var host = new RayfleetHost();
        var api = host.Api();

        AssertError(await api.RawGetAsync($"/api/v1/admin/audit?{query}"), HttpStatusCode.BadRequest, "InvalidParameter",
            $"parameter {parameter} is not valid");
    }
}
