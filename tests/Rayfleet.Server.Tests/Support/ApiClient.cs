using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Tests.Support;

public sealed record ApiResponse(HttpStatusCode Status, string Body, HttpResponseHeaders Headers)
{
    public JsonNode Json => JsonNode.Parse(Body) ?? throw new InvalidOperationException("Empty body");
    public string? Code => Json["Code"]?.GetValue<string>();
    public string? Message => Json["Message"]?.GetValue<string>();

    public ApiResponse EnsureOk()
    {
        if (Status != HttpStatusCode.OK) throw new InvalidOperationException($"Expected 200, got {(int)Status}: {Body}");
        return this;
    }
}

/// <summary>
/// Raw HTTP against the service, asserting on wire bytes rather than on our own contract types. The waits that move
/// the fake clock need the in-process host; without one (a service in its own process) only plain calls work.
/// </summary>
public sealed class ApiClient(HttpClient http, RayfleetHost? host = null)
{
    public HttpClient Http => http;

    private RayfleetHost InProcess => host ?? throw new InvalidOperationException("This wait moves the fake clock of an in-process host; there is none.");

    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        return new ApiResponse(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers);
    }

    public Task<ApiResponse> GetAsync(string path) => SendAsync(HttpMethod.Get, path);
    public Task<ApiResponse> PostAsync(string path, string? body = null) => SendAsync(HttpMethod.Post, path, body);
    public Task<ApiResponse> PostAsync(string path, object body) => SendAsync(HttpMethod.Post, path, JsonSerializer.Serialize(body));
    public Task<ApiResponse> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path);

    public async Task<string> DefaultWorkspaceAsync()
    {
        var list = (await GetAsync("/api/v1/workspaces")).EnsureOk().Json;
        return list["workspaces"]!.AsArray().Single(w => w!["workspaceName"]!.GetValue<string>() == "default")!["workspaceId"]!.GetValue<string>();
    }

    /// <summary>A new workspace of <paramref name="provider"/>, with its root_queue at the default size or <paramref name="cu"/>.</summary>
    public async Task<string> CreateWorkspaceAsync(string name, string provider, string? cu = null)
    {
        object body = cu is null
            ? new { workspaceName = name, provider }
            : new { workspaceName = name, provider, resourceSpec = new { cu } };
        return (await PostAsync("/api/v1/workspaces", body)).EnsureOk().Json["workspaceId"]!.GetValue<string>();
    }

    public async Task<string> CreateClusterAsync(string workspaceId, object body)
    {
        var response = (await PostAsync($"/api/v1/workspaces/{workspaceId}/rayCluster", body)).EnsureOk();
        return response.Json["clusterId"]!.GetValue<string>();
    }

    /// <summary>A queue's usedResource (a JSON string inside the JSON body), parsed.</summary>
    public async Task<JsonNode> QueueUsageAsync(string workspaceId, string queue = "root_queue")
    {
        var queues = (await GetAsync($"/api/v1/workspaces/{workspaceId}/queues")).EnsureOk().Json["queues"]!.AsArray();
        var used = queues.Single(q => q!["queueName"]!.GetValue<string>() == queue)!["usedResource"]!.GetValue<string>();
        return JsonNode.Parse(used)!;
    }

    public async Task<decimal> UsedCuAsync(string workspaceId, string queue = "root_queue") =>
        decimal.Parse((await QueueUsageAsync(workspaceId, queue))["cu"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);

    public async Task<JsonNode> GetClusterAsync(string workspaceId, string clusterId) =>
        (await GetAsync($"/api/v1/workspaces/{workspaceId}/rayCluster/{clusterId}")).EnsureOk().Json;

    /// <summary>
    /// Polls the cluster until <paramref name="until"/> holds, moving the fake clock forward by <paramref name="step"/>
    /// between looks. The deadline is wall-clock time, so a broken reconciler fails the test instead of hanging it.
    /// </summary>
    public async Task<JsonNode> WaitForClusterAsync(string workspaceId, string clusterId, Func<JsonNode, bool> until, TimeSpan? step = null, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(20));
        JsonNode last;
        while (true)
        {
            last = await GetClusterAsync(workspaceId, clusterId);
            if (until(last)) return last;
            if (DateTime.UtcNow > end)
                throw new TimeoutException($"Cluster {clusterId} did not reach the expected state; last seen: {last.ToJsonString()}");
            InProcess.Clock.Advance(step ?? TimeSpan.FromMilliseconds(500));
            await Task.Yield();
            await WaitForQuietAsync();
        }
    }

    public static Func<JsonNode, bool> InState(string state) => c => c["state"]!.GetValue<string>() == state;

    /// <summary>Lets the reconciler drain what is queued now, bounded in wall-clock time.</summary>
    public async Task WaitForQuietAsync()
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        var reconciler = InProcess.Reconciler;
        while (DateTime.UtcNow < end)
        {
            var before = reconciler.PassCount;
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
            if (reconciler.PassCount == before && reconciler.QueueLength == 0) return;
        }
    }
}
