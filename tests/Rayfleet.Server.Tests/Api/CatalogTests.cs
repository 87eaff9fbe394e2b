using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Api;

/// <summary>Release versions (emr-api.md §11), the GPU catalogue, health, and the API description.</summary>
public sealed class CatalogTests
{
    private const string Ray100 = "ray-1.0.0 (Ray 2.47.1, Python 3.12)";
    private const string Ray120 = "ray-1.2.0 (Ray 2.55.1, Python 3.12)";

    [Fact]
    public async Task ListReleaseVersions_lists_the_two_shipped_Ray_versions_with_the_reference_types()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = (await api.RawGetAsync("/api/v1/releaseVersions")).EnsureOk();
        var json = response.Json;
        AssertKinds(json, [("requestId", K.String), ("releaseVersions", K.Array), ("maxResults", K.Number), ("totalCount", K.Number)]);
        Assert.Equal(response.RequestIdHeader, json["requestId"]!.GetValue<string>());
        Assert.Equal(2, json["totalCount"]!.GetValue<int>());

        var items = json["releaseVersions"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal([Ray100, Ray120], items.Select(r => r["displayReleaseVersion"]!.GetValue<string>()));
        foreach (var item in items)
        {
            AssertKinds(item, [
                ("releaseVersion", K.String), ("displayReleaseVersion", K.String), ("state", K.String), ("type", K.String),
                ("iaasType", K.String), ("gmtCreate", K.Number), ("communityVersion", K.String), ("cpuArchitectures", K.Array),
                ("fusion", K.False), ("isCustom", K.False),
            ]);
            Assert.Equal("ONLINE", item["state"]!.GetValue<string>());
            Assert.Equal("stable", item["type"]!.GetValue<string>());
        }
        Assert.Equal(["Ray 2.47.1", "Ray 2.55.1"], items.Select(r => r["communityVersion"]!.GetValue<string>()));
        // The default version (what a cluster gets without displayReleaseVersion) is marked.
        Assert.Equal([false, true], items.Select(r => r["isDefault"]!.GetValue<bool>()));
    }

    [Theory]
    [InlineData("?releaseVersion=ray-1.0.0%20(Ray%202.47.1,%20Python%203.12)", new[] { Ray100 })]
    [InlineData("?releaseType=stable&releaseVersionStatus=ONLINE", new[] { Ray100, Ray120 })]
    [InlineData("?releaseType=beta", new string[0])]
    [InlineData("?releaseVersionStatus=OFFLINE", new string[0])]
    [InlineData("?regionId=cn-hangzhou&workspaceId=w-d2d82aa09155", new[] { Ray100, Ray120 })]
    public async Task ListReleaseVersions_filters_as_asked(string query, string[] expected)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var json = (await api.RawGetAsync("/api/v1/releaseVersions" + query)).EnsureOk().Json;
        Assert.Equal(expected, json["releaseVersions"]!.AsArray().Select(r => r!["displayReleaseVersion"]!.GetValue<string>()));
    }

    [Fact]
    public async Task ListGpuSpecs_lists_the_GPU_catalogue()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var json = (await api.RawGetAsync("/api/v1/gpuSpecs")).EnsureOk().Json;
        AssertKinds(json, [("requestId", K.String), ("gpuSpecs", K.Array), ("totalCount", K.Number)]);
        var items = json["gpuSpecs"]!.AsArray().Select(g => g!.AsObject()).ToList();
        Assert.Equal(["ecs.gn6i-c4g1.xlarge", "ecs.gn7i-c8g1.2xlarge"], items.Select(g => g["instanceType"]!.GetValue<string>()));
        foreach (var item in items)
            AssertKinds(item, [("instanceType", K.String), ("cpu", K.String), ("memory", K.String), ("gpuCount", K.Number),
                ("gpuModel", K.String), ("nodeLabels", K.Object)]);
        Assert.Equal(("4", "15Gi", 1, "NVIDIA T4"),
            (items[0]["cpu"]!.GetValue<string>(), items[0]["memory"]!.GetValue<string>(), items[0]["gpuCount"]!.GetValue<int>(), items[0]["gpuModel"]!.GetValue<string>()));
        Assert.Equal("ecs.gn6i-c4g1.xlarge", items[0]["nodeLabels"]!["node.kubernetes.io/instance-type"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_cluster_without_displayReleaseVersion_gets_the_default_and_may_name_the_other()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var a = await api.CreateClusterAsync(ws, Bodies.Minimal("a"));
        var b = await api.CreateClusterAsync(ws, Bodies.Minimal("b").Set("displayReleaseVersion", $"\"{Ray100}\""));
        Assert.Equal(Ray120, (await api.GetClusterAsync(ws, a))["displayReleaseVersion"]!.GetValue<string>());
        Assert.Equal(Ray100, (await api.GetClusterAsync(ws, b))["displayReleaseVersion"]!.GetValue<string>());
    }

    // Health and the API description

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_endpoints_answer_200(string path)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = await api.RawGetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("Healthy", response.Body);
    }

    [Fact]
    public async Task A_service_run_without_its_reconciler_is_ready()
    {
        using var host = new RayfleetHost(settings: new Dictionary<string, string?> { ["Rayfleet:Reconciler:Enabled"] = "false" });
        var response = await host.Api().RawGetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, response.Status);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/docs/")]
    public async Task Health_and_documentation_need_no_signature(string path)
    {
        using var host = new RayfleetHost();
        using var client = host.UnsignedClient();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public static readonly TheoryData<string, string> ImplementedOperations = new()
    {
        { "post", "/api/v1/workspaces/{workspaceId}/rayCluster" },
        { "get", "/api/v1/workspaces/{workspaceId}/rayCluster" },
        { "get", "/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}" },
        { "post", "/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}" },
        { "delete", "/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}" },
        { "post", "/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}/start" },
        { "post", "/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}/stop" },
        { "post", "/api/v1/workspaces/queues" },
        { "post", "/api/v1/workspaces/queues/action/edit" },
        { "delete", "/api/v1/workspaces/{workspaceId}/queues/{workspaceQueueName}" },
        { "get", "/api/v1/workspaces/{workspaceId}/queues" },
        { "post", "/api/v1/workspaces" },
        { "get", "/api/v1/workspaces" },
        { "post", "/api/v1/workspaces/{workspaceId}/networkServices" },
        { "get", "/api/v1/workspaces/{workspaceId}/networkServices" },
        { "get", "/api/v1/releaseVersions" },
        // Rayfleet extensions.
        { "get", "/api/v1/workspaces/{workspaceId}" },
        { "delete", "/api/v1/workspaces/{workspaceId}" },
        { "post", "/api/v1/workspaces/{workspaceId}/volumes" },
        { "get", "/api/v1/workspaces/{workspaceId}/volumes" },
        { "delete", "/api/v1/workspaces/{workspaceId}/volumes/{volumeId}" },
        { "get", "/api/v1/gpuSpecs" },
    };

    [Theory]
    [MemberData(nameof(ImplementedOperations))]
    public async Task The_OpenAPI_document_lists_every_operation_of_the_API(string method, string path)
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var response = await api.RawGetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("application/json", response.MediaType);
        var paths = response.Json["paths"]!.AsObject();
        Assert.True(paths.ContainsKey(path), $"{path} is not in the document: {string.Join(", ", paths.Select(p => p.Key))}");
        Assert.True(paths[path]!.AsObject().ContainsKey(method), $"{method.ToUpperInvariant()} {path} is not in the document");
    }

    [Fact]
    public async Task The_OpenAPI_document_names_the_operations_by_their_action()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var json = (await api.RawGetAsync("/openapi/v1.json")).EnsureOk().Json;
        var ids = json["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(op => op.Value?["operationId"]?.GetValue<string>()))
            .Where(id => id is not null)
            .ToHashSet();
        foreach (var action in new[]
                 {
                     "CreateRayCluster", "ListRayCluster", "GetRayCluster", "UpdateRayCluster", "DeleteRayCluster", "StartRayCluster",
                     "StopRayCluster", "CreateWorkspaceQueue", "EditWorkspaceQueue", "DeleteWorkspaceQueue", "ListWorkspaceQueues",
                     "CreateWorkspace", "ListWorkspaces", "CreateNetworkService", "ListNetworkServices", "ListReleaseVersions",
                 })
            Assert.Contains(action, ids);
    }

    [Fact]
    public async Task Every_operation_of_the_document_describes_its_answer_from_the_handler_s_typed_result()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var json = (await api.RawGetAsync("/openapi/v1.json")).EnsureOk().Json;
        var operations = json["paths"]!.AsObject()
            .Where(p => p.Key.StartsWith("/api/", StringComparison.Ordinal))
            .SelectMany(p => p.Value!.AsObject().Select(op => (Id: op.Value?["operationId"]?.GetValue<string>() ?? $"{op.Key} {p.Key}", Op: op.Value!)))
            .ToList();
        Assert.True(operations.Count >= 40, $"only {operations.Count} operations");
        Assert.All(operations, o =>
            Assert.True(o.Op["responses"]?["200"]?["content"]?["application/json"]?["schema"] is not null, $"{o.Id} has no 200 application/json schema"));
    }

    [Fact]
    public async Task The_docs_page_serves_an_interactive_reference_of_the_document()
    {
        using var host = new RayfleetHost();
        using var client = host.UnsignedClient();
        // /docs sends the browser on to the page itself.
        using var redirect = await client.GetAsync("/docs");
        Assert.True(redirect.StatusCode is HttpStatusCode.OK or HttpStatusCode.Found or HttpStatusCode.MovedPermanently,
            $"/docs answered {(int)redirect.StatusCode}");
        var location = redirect.StatusCode == HttpStatusCode.OK
            ? "/docs"
            : new Uri(new Uri(client.BaseAddress!, "/docs"), redirect.Headers.Location!).AbsolutePath;
        Assert.StartsWith("/docs", location, StringComparison.Ordinal);

        using var page = await client.GetAsync(location);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<html", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Rayfleet API", html, StringComparison.Ordinal);
        // The page loads the document relative to the application's base path (scalar.aspnetcore.js resolves it so).
        Assert.Contains("\"url\":\"openapi/v1.json\"", html, StringComparison.Ordinal);
        foreach (var asset in new[] { "/docs/scalar.js", "/docs/scalar.aspnetcore.js", "/openapi/v1.json" })
        {
            using var loaded = await client.GetAsync(asset);
            Assert.True(loaded.StatusCode == HttpStatusCode.OK, $"{asset} answered {(int)loaded.StatusCode}");
        }
    }
}
