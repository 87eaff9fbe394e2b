using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Ray's Job Submission API of one head over HTTP, at <c>{baseUri}api/jobs/...</c>: the head service through the API
/// server's service proxy, or its cluster DNS name. A minimal adapter until the shared <c>Jobs/RayJobClient</c> lands:
/// it takes any <see cref="HttpClient"/> and a base URI, so folding it into that client changes no caller.
///
/// Failures are <see cref="HttpRequestException"/>s carrying the status, except what <see cref="IRayJobApi"/> gives a
/// meaning: Ray's 404 for an unknown submission id (null, false, ""), its 500 for a duplicate submission id
/// (<see cref="RaySubmitOutcome.AlreadySubmitted"/>) and a head that cannot take a job yet
/// (<see cref="RaySubmitOutcome.NotReady"/>). A 404 that is a Kubernetes <c>Status</c> (no such service) is not Ray's.
/// </summary>
internal sealed class DashboardJobApi(HttpClient http, Uri baseUri) : IRayJobApi
{
    private readonly Uri _base = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");

    public Uri BaseUri => _base;

    private Uri Jobs(string? id = null, string? tail = null) =>
        new(_base, "api/jobs/" + (id is null ? "" : Uri.EscapeDataString(id)) + (tail is null ? "" : "/" + tail));

    public async Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Jobs())
        {
            Content = new StringContent(SubmitBody(submission).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException)
        {
            return RaySubmitOutcome.NotReady;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return RaySubmitOutcome.NotReady;
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode) return RaySubmitOutcome.Submitted;
            // job_head.py passes the agent's 400 on as 500 with this text (ray-jobs.md; dashboard_httpclient.go:254-256).
            if (body.Contains("already exists", StringComparison.Ordinal) || body.Contains("Please use a different submission_id", StringComparison.Ordinal))
                return RaySubmitOutcome.AlreadySubmitted;
            if (body.Contains("No available agent", StringComparison.Ordinal)
                || response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
                || IsKubernetesStatus(body))
                return RaySubmitOutcome.NotReady;
            throw Failure("submit", response.StatusCode, body);
        }
    }

    public async Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, Jobs(submissionId), cancellationToken);
        if (status == HttpStatusCode.NotFound && !IsKubernetesStatus(body)) return null;
        if (status != HttpStatusCode.OK) throw Failure("get job", status, body);
        return JsonNode.Parse(body) is JsonObject o ? Details(o) : throw Failure("get job", status, body);
    }

    public async Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, Jobs(submissionId, "stop"), cancellationToken);
        if (status == HttpStatusCode.NotFound && !IsKubernetesStatus(body)) return false;
        if (status != HttpStatusCode.OK) throw Failure("stop job", status, body);
        return JsonNode.Parse(body)?["stopped"]?.GetValue<bool>() == true;
    }

    public async Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, Jobs(submissionId, "logs"), cancellationToken);
        if (status == HttpStatusCode.NotFound && !IsKubernetesStatus(body)) return "";
        if (status != HttpStatusCode.OK) throw Failure("job logs", status, body);
        return JsonNode.Parse(body)?["logs"]?.GetValue<string>() ?? "";
    }

    public async Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, Jobs(), cancellationToken);
        if (status != HttpStatusCode.OK) throw Failure("list jobs", status, body);
        return [.. (JsonNode.Parse(body) as JsonArray ?? []).OfType<JsonObject>().Select(Details)];
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, Uri uri, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (method == HttpMethod.Post) request.Content = new StringContent("", Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>The body of <c>POST /api/jobs/</c>, null members left out as Ray's SDK does.</summary>
    public static JsonObject SubmitBody(RayJobSubmission s)
    {
        var body = new JsonObject { ["entrypoint"] = s.Entrypoint, ["submission_id"] = s.SubmissionId };
        if (s.RuntimeEnvJson is { Length: > 0 } env) body["runtime_env"] = JsonNode.Parse(env);
        if (s.Metadata is { } metadata) body["metadata"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        if (s.EntrypointNumCpus is { } cpus) body["entrypoint_num_cpus"] = cpus;
        if (s.EntrypointNumGpus is { } gpus) body["entrypoint_num_gpus"] = gpus;
        if (s.EntrypointMemory is { } memory) body["entrypoint_memory"] = memory;
        if (s.EntrypointResources is { } resources) body["entrypoint_resources"] = new JsonObject(resources.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        return body;
    }

    public static RayJobDetails Details(JsonObject o) => new()
    {
        Type = Text(o, "type") ?? "SUBMISSION",
        JobId = Text(o, "job_id"),
        SubmissionId = Text(o, "submission_id"),
        Status = Text(o, "status") ?? RayJobStatus.Pending,
        Message = Text(o, "message"),
        ErrorType = Text(o, "error_type"),
        StartTime = Number(o, "start_time"),
        EndTime = Number(o, "end_time"),
        DriverExitCode = Number(o, "driver_exit_code") is { } code ? (int)code : null,
    };

    private static string? Text(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static long? Number(JsonObject o, string name) =>
        o[name] is JsonValue v && v.TryGetValue<double>(out var d) ? (long)d : null;

    /// <summary>An answer of the API server itself (its proxy found no service, no endpoint, or refused us), not of Ray.</summary>
    private static bool IsKubernetesStatus(string body)
    {
        if (!body.StartsWith('{')) return false;
        try
        {
            return JsonNode.Parse(body)?["kind"]?.GetValue<string>() == "Status";
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private HttpRequestException Failure(string what, HttpStatusCode status, string body)
    {
        var text = body.Length > 500 ? body[..500] : body;
        return new HttpRequestException(
            string.Create(CultureInfo.InvariantCulture, $"Ray dashboard at {_base}: {what}: {(int)status} {text}"), null, status);
    }
}

/// <summary>
/// Sends through the Kubernetes client's own <see cref="HttpClient"/> after letting its credentials sign the request,
/// as the client does for its generated calls: the service proxy needs a body on a POST, which the client's
/// <c>ConnectPostNamespacedServiceProxy</c> calls cannot send.
/// </summary>
internal sealed class KubernetesApiHandler(k8s.Kubernetes client) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // The outer HttpClient has marked the message sent; the Kubernetes client's HttpClient needs its own copy.
        using var copy = new HttpRequestMessage(request.Method, request.RequestUri) { Content = request.Content, Version = request.Version };
        foreach (var (name, values) in request.Headers) copy.Headers.TryAddWithoutValidation(name, values);
        if (client.Credentials is { } credentials) await credentials.ProcessHttpRequestAsync(copy, cancellationToken);
        return await client.HttpClient.SendAsync(copy, cancellationToken);
    }
}
