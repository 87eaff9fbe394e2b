using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>A response as it came over the wire, with the content type that <see cref="ApiResponse"/> does not keep.</summary>
public sealed record RawResponse(HttpStatusCode Status, string Body, string? MediaType, string? RequestIdHeader)
{
    public JsonObject Json => JsonNode.Parse(Body)?.AsObject() ?? throw new InvalidOperationException("Empty body");

    public RawResponse EnsureOk()
    {
        Assert.True(Status == HttpStatusCode.OK, $"Expected 200, got {(int)Status}: {Body}");
        return this;
    }
}

/// <summary>Raw requests and wire assertions shared by the API tests.</summary>
public static partial class Wire
{
    public const string UnknownWorkspace = "w-0000000000000000";
    public const string UnknownCluster = "ray-0000000000000000";

    [GeneratedRegex("^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")]
    public static partial Regex UppercaseUuid();

    public static async Task<RawResponse> RawSendAsync(this ApiClient api, HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await api.Http.SendAsync(request);
        var requestId = response.Headers.TryGetValues("x-acs-request-id", out var values) ? values.Single() : null;
        return new RawResponse(response.StatusCode, await response.Content.ReadAsStringAsync(),
            response.Content.Headers.ContentType?.MediaType, requestId);
    }

    public static Task<RawResponse> RawGetAsync(this ApiClient api, string path) => api.RawSendAsync(HttpMethod.Get, path);
    public static Task<RawResponse> RawPostAsync(this ApiClient api, string path, JsonNode body) => api.RawSendAsync(HttpMethod.Post, path, body.ToJsonString());
    public static Task<RawResponse> RawPostAsync(this ApiClient api, string path, string body) => api.RawSendAsync(HttpMethod.Post, path, body);
    public static Task<RawResponse> RawDeleteAsync(this ApiClient api, string path) => api.RawSendAsync(HttpMethod.Delete, path);

    public static string Clusters(string workspaceId) => $"/api/v1/workspaces/{workspaceId}/rayCluster";

    /// <summary>
    /// The Alibaba Cloud error body: status, application/json, RequestId equal to the header and an uppercase UUID,
    /// HostId, the code, and a message that mentions each of <paramref name="mentions"/>.
    /// </summary>
    public static JsonObject AssertError(RawResponse response, HttpStatusCode status, string code, params string[] mentions)
    {
        Assert.True(response.Status == status, $"Expected {(int)status} {code}, got {(int)response.Status}: {response.Body}");
        Assert.Equal("application/json", response.MediaType);
        var json = response.Json;
        Assert.Equal(JsonValueKind.String, Kind(json, "RequestId"));
        var requestId = json["RequestId"]!.GetValue<string>();
        Assert.Matches(UppercaseUuid(), requestId);
        Assert.Equal(response.RequestIdHeader, requestId);
        Assert.Equal(JsonValueKind.String, Kind(json, "HostId"));
        Assert.False(string.IsNullOrEmpty(json["HostId"]!.GetValue<string>()));
        Assert.Equal(JsonValueKind.String, Kind(json, "Code"));
        Assert.Equal(code, json["Code"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.String, Kind(json, "Message"));
        var message = json["Message"]!.GetValue<string>();
        foreach (var mention in mentions) Assert.Contains(mention, message, StringComparison.Ordinal);
        return json;
    }

    /// <summary>An InvalidParameter-family error whose Errors array has one entry for <paramref name="field"/> with <paramref name="code"/>.</summary>
    public static JsonObject AssertFieldError(RawResponse response, string code, string field, HttpStatusCode status = HttpStatusCode.BadRequest)
    {
        var json = AssertError(response, status, code, field);
        var errors = json["Errors"]?.AsArray() ?? throw new Xunit.Sdk.XunitException($"No Errors array: {response.Body}");
        Assert.Contains(errors, e => e!["Field"]!.GetValue<string>() == field && e["Code"]!.GetValue<string>() == code
                                     && e["Message"]!.GetValue<string>().Contains(field, StringComparison.Ordinal));
        return json;
    }

    /// <summary>The JSON kind of a key that must be present (JSON null is <see cref="JsonValueKind.Null"/>).</summary>
    public static JsonValueKind Kind(JsonObject obj, string key)
    {
        Assert.True(obj.ContainsKey(key), $"Key '{key}' is missing from {obj.ToJsonString()}");
        return obj[key] is { } node ? node.GetValueKind() : JsonValueKind.Null;
    }

    public static void AssertKinds(JsonObject obj, IEnumerable<(string Key, JsonValueKind Kind)> expected)
    {
        foreach (var (key, kind) in expected)
            Assert.True(Kind(obj, key) == kind, $"Key '{key}' should be {kind} but is {Kind(obj, key)} in {obj.ToJsonString()}");
    }

    public static void AssertAbsent(JsonObject obj, params string[] keys)
    {
        foreach (var key in keys) Assert.False(obj.ContainsKey(key), $"Key '{key}' should not be in {obj.ToJsonString()}");
    }

    /// <summary>Sets a value at a field path such as <c>workerSpec[2].memory</c>; <paramref name="json"/> is raw JSON.</summary>
    public static JsonObject Set(this JsonObject body, string path, string json)
    {
        var (parent, last) = Navigate(body, path);
        var value = JsonNode.Parse(json);
        switch (parent)
        {
            case JsonObject o: o[last] = value; break;
            case JsonArray a: a[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)] = value; break;
        }
        return body;
    }

    /// <summary>Removes the key at a field path.</summary>
    public static JsonObject Without(this JsonObject body, string path)
    {
        var (parent, last) = Navigate(body, path);
        Assert.True(((JsonObject)parent).Remove(last), $"Nothing at {path}");
        return body;
    }

    private static (JsonNode Parent, string Last) Navigate(JsonObject body, string path)
    {
        var steps = new List<string>();
        foreach (var part in path.Split('.'))
        {
            var bracket = part.IndexOf('[', StringComparison.Ordinal);
            if (bracket < 0)
            {
                steps.Add(part);
                continue;
            }
            steps.Add(part[..bracket]);
            steps.AddRange(part[bracket..].Split(['[', ']'], StringSplitOptions.RemoveEmptyEntries));
        }
        JsonNode node = body;
        foreach (var step in steps[..^1])
            node = node is JsonArray a ? a[int.Parse(step, System.Globalization.CultureInfo.InvariantCulture)]! : node[step]!;
        return (node, steps[^1]);
    }
}

/// <summary>Request bodies to start from; tests change one thing and look at what comes back.</summary>
public static class Bodies
{
    public static JsonObject Group(string groupName, int replica = 1, string cpu = "1", string memory = "4Gi") => new()
    {
        ["groupName"] = groupName,
        ["workerType"] = "CPU",
        ["replica"] = replica,
        ["cpu"] = cpu,
        ["memory"] = memory,
    };

    /// <summary>A valid cluster of 1 + 3 CU with three worker groups, so that paths like workerSpec[2] exist.</summary>
    public static JsonObject Cluster(string name = "valid") => new()
    {
        ["name"] = name,
        ["headSpec"] = new JsonObject { ["cpu"] = "1", ["memory"] = "4Gi" },
        ["workerSpec"] = new JsonArray { Group("g0"), Group("g1"), Group("g2") },
    };

    /// <summary>A valid cluster with nothing but the required values.</summary>
    public static JsonObject Minimal(string name = "minimal") => new()
    {
        ["name"] = name,
        ["headSpec"] = new JsonObject { ["cpu"] = "1", ["memory"] = "4Gi" },
    };

    /// <summary>The CreateRayCluster example body of emr-api.md §5.1, verbatim.</summary>
    public const string ReferenceExample =
        """
        {"name":"testRayCluster","description":"Ray Cluster for dev.","displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)",
         "networkServiceName":"vpc","extraParam":"{}",
         "headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi","enableAutoScaling":false,"idleTimeoutSeconds":60},
         "workerSpec":[{"groupName":"WorkerGroup1","workerType":"CPU","replica":2,"queueName":"root_queue","cpu":"4","memory":"16Gi","minReplica":1,"maxReplica":10}]}
        """;
}
