using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Jobs;

/// <summary>
/// <see cref="IRayJobApi"/> over HTTP: Ray's Job Submission REST API on a head's dashboard (<c>/api/jobs/</c>, see
/// <c>shared/reference/ray-jobs.md</c>), with snake_case JSON as Ray's SDK sends it. Every answer is read within a
/// bound: a driver log keeps its last <see cref="MaxLogChars"/> characters, any other answer may be at most
/// <see cref="MaxResponseBytes"/> long. Failures other than Ray's known ones are <see cref="RayJobApiException"/>s,
/// which the job reconciler retries with backoff.
/// </summary>
public sealed class RayJobClient : IRayJobApi
{
    /// <summary>The named client of <see cref="IHttpClientFactory"/> (see <see cref="RayJobClientRegistration"/>).</summary>
    public const string HttpClientName = "ray-jobs";
    public const int DefaultMaxLogChars = 8 * 1024 * 1024;
    public const int DefaultMaxResponseBytes = 16 * 1024 * 1024;
    private const int MaxErrorBytes = 64 * 1024;
    private const int ExcerptChars = 2000;

    private readonly HttpClient _http;

    public RayJobClient(HttpClient http, Uri dashboard, int maxLogChars = DefaultMaxLogChars, int maxResponseBytes = DefaultMaxResponseBytes)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(dashboard);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLogChars, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxResponseBytes, 1);
        _http = http;
        // A base with a trailing slash, so that "api/jobs/" resolves below any path prefix of the dashboard.
        Dashboard = dashboard.AbsoluteUri.EndsWith('/') ? dashboard : new Uri(dashboard.AbsoluteUri + "/");
        MaxLogChars = maxLogChars;
        MaxResponseBytes = maxResponseBytes;
    }

    /// <summary>The head's dashboard, such as <c>http://127.0.0.1:8265/</c>.</summary>
    public Uri Dashboard { get; }

    public int MaxLogChars { get; }

    public int MaxResponseBytes { get; }

    public async Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Dashboard, "api/jobs/"))
        {
            Content = JsonContent(SubmitBody(submission)),
        };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (IsUnreachable(ex, cancellationToken))
        {
            // Nobody answers (yet): the head is starting or restarting. A submit whose answer was lost is found
            // again by the next one, which Ray answers with "already exists".
            return RaySubmitOutcome.NotReady;
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                await ReadJsonAsync(response, cancellationToken); // the whole answer, within the bound
                return RaySubmitOutcome.Submitted;
            }
            var error = await ReadErrorAsync(response, cancellationToken);
            var status = (int)response.StatusCode;
            // The agent refuses a known submission id with 400; the head passes it on as a 500 (older heads as 400).
            if (status is 400 or 500 && error.Contains("already exists", StringComparison.Ordinal)) return RaySubmitOutcome.AlreadySubmitted;
            if (status == 500 && error.Contains("No available agent", StringComparison.Ordinal)) return RaySubmitOutcome.NotReady;
            // A proxy in front of a head that is not up (the Kubernetes API server's service proxy, a gateway).
            if (status is 502 or 503 or 504 || IsProxyStatus(error)) return RaySubmitOutcome.NotReady;
            throw Failure("POST", "api/jobs/", status, error);
        }
    }

    public async Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken)
    {
        var path = "api/jobs/" + Uri.EscapeDataString(submissionId);
        var node = await SendAsync(HttpMethod.Get, path, notFoundIsNull: true, cancellationToken);
        return node is null ? null : Details(node, path);
    }

    /// <summary>True when Ray says the job's driver was running and is being stopped; false when it had ended, or Ray does not know the job.</summary>
    public async Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken)
    {
        var path = "api/jobs/" + Uri.EscapeDataString(submissionId) + "/stop";
        var node = await SendAsync(HttpMethod.Post, path, notFoundIsNull: true, cancellationToken);
        if (node is null) return false;
        return node["stopped"] is JsonValue stopped && stopped.TryGetValue<bool>(out var value)
            ? value
            : throw new RayJobApiException($"Ray's answer to POST {path} has no boolean 'stopped': {Excerpt(node.ToJsonString())}", 200, null, null);
    }

    /// <summary>
    /// The driver's log; <c>""</c> before a driver exists or when Ray does not know the job. A log longer than
    /// <see cref="MaxLogChars"/> keeps its end, after a first line that says how much was cut.
    /// </summary>
    public async Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken)
    {
        var path = "api/jobs/" + Uri.EscapeDataString(submissionId) + "/logs";
        using var response = await SendRawAsync(HttpMethod.Get, path, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var error = await ReadErrorAsync(response, cancellationToken);
            return IsProxyStatus(error) ? throw Failure("GET", path, 404, error) : "";
        }
        if (!response.IsSuccessStatusCode) throw Failure("GET", path, (int)response.StatusCode, await ReadErrorAsync(response, cancellationToken));
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var (logs, dropped) = await JsonLogTail.ReadAsync(body, MaxLogChars, cancellationToken);
            return dropped == 0 ? logs : $"[rayfleet: the log was cut to its last {MaxLogChars} characters; {dropped} earlier characters were left out]\n" + logs;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or JsonException || IsTimeout(ex, cancellationToken))
        {
            throw new RayJobApiException($"Reading Ray's answer to GET {path} failed: {ex.Message}", 200, null, ex);
        }
    }

    public async Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken)
    {
        const string path = "api/jobs/";
        var node = await SendAsync(HttpMethod.Get, path, notFoundIsNull: false, cancellationToken);
        if (node is not JsonArray array) throw new RayJobApiException($"Ray's answer to GET {path} is not a JSON array: {Excerpt(node?.ToJsonString() ?? "null")}", 200, null, null);
        return [.. array.Select(item => Details(item ?? throw new RayJobApiException($"Ray's answer to GET {path} lists a null job.", 200, null, null), path))];
    }

    internal static JsonObject SubmitBody(RayJobSubmission s)
    {
        var body = new JsonObject
        {
            ["entrypoint"] = s.Entrypoint,
            ["submission_id"] = s.SubmissionId,
        };
        if (s.RuntimeEnvJson is { } env)
        {
            try
            {
                body["runtime_env"] = JsonNode.Parse(env);
            }
            catch (JsonException ex)
            {
                throw new ArgumentException($"The runtime env of submission {s.SubmissionId} is not JSON: {ex.Message}", nameof(s), ex);
            }
        }
        if (s.Metadata is { } metadata) body["metadata"] = new JsonObject(metadata.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        if (s.EntrypointNumCpus is { } cpus) body["entrypoint_num_cpus"] = cpus;
        if (s.EntrypointNumGpus is { } gpus) body["entrypoint_num_gpus"] = gpus;
        if (s.EntrypointMemory is { } memory) body["entrypoint_memory"] = memory;
        if (s.EntrypointResources is { } resources) body["entrypoint_resources"] = new JsonObject(resources.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        return body;
    }

    private static ByteArrayContent JsonContent(JsonNode body)
    {
        // Bytes, not a streamed JsonContent: the request carries a Content-Length, which every server reads.
        var content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(body.ToJsonString()));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, bool notFoundIsNull, CancellationToken ct)
    {
        using var response = await SendRawAsync(method, path, ct);
        if (notFoundIsNull && response.StatusCode == HttpStatusCode.NotFound)
        {
            // Ray's 404 says it does not know the job; a proxy's says nothing about the job (no such service).
            var error = await ReadErrorAsync(response, ct);
            return IsProxyStatus(error) ? throw Failure(method.Method, path, 404, error) : null;
        }
        if (!response.IsSuccessStatusCode) throw Failure(method.Method, path, (int)response.StatusCode, await ReadErrorAsync(response, ct));
        try
        {
            return await ReadJsonAsync(response, ct);
        }
        catch (JsonException ex)
        {
            throw new RayJobApiException($"Ray's answer to {method.Method} {path} is not JSON: {ex.Message}", (int)response.StatusCode, null, ex);
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(Dashboard, path));
        if (method == HttpMethod.Post) request.Content = new ByteArrayContent([]);
        try
        {
            return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (Exception ex) when (IsUnreachable(ex, ct))
        {
            throw new RayJobApiException($"Ray's dashboard at {Dashboard} did not answer {method.Method} {path}: {ex.Message}", null, null, ex);
        }
    }

    private async Task<JsonNode?> ReadJsonAsync(HttpResponseMessage response, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            var (data, complete) = await ReadBoundedAsync(response, MaxResponseBytes, keepTail: false, ct);
            if (!complete)
                throw new RayJobApiException($"Ray's answer to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} is longer than {MaxResponseBytes} bytes; it was not read.", (int)response.StatusCode, null, null);
            bytes = data;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException || IsTimeout(ex, ct))
        {
            throw new RayJobApiException($"Reading Ray's answer to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} failed: {ex.Message}", (int)response.StatusCode, null, ex);
        }
        return JsonNode.Parse(bytes);
    }

    /// <summary>An answer of the Kubernetes API server's service proxy itself (a <c>Status</c> object), not of Ray.</summary>
    private static bool IsProxyStatus(string body)
    {
        if (!body.StartsWith('{')) return false;
        try
        {
            return JsonNode.Parse(body) is JsonObject o && o["kind"] is JsonValue kind && kind.TryGetValue<string>(out var k) && k == "Status";
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>An error body as text: its last <see cref="MaxErrorBytes"/> (the end of a Python traceback says what went wrong).</summary>
    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var (data, complete) = await ReadBoundedAsync(response, MaxErrorBytes, keepTail: true, ct);
            return (complete ? "" : "…") + Encoding.UTF8.GetString(data);
        }
        catch (Exception ex) when (IsUnreachable(ex, ct))
        {
            return $"(the body could not be read: {ex.Message})";
        }
    }

    /// <summary>At most <paramref name="limit"/> bytes of the body: its start, or its end; complete says whether that was all of it.</summary>
    private static async Task<(byte[] Data, bool Complete)> ReadBoundedAsync(HttpResponseMessage response, int limit, bool keepTail, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[Math.Min(limit, 64 * 1024) * (keepTail ? 2 : 1)];
        var length = 0;
        var complete = true;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (!keepTail && buffer.Length >= limit)
                {
                    // One byte more than allowed tells a body of exactly the limit from a longer one.
                    var probe = new byte[1];
                    if (await stream.ReadAsync(probe, ct) == 0) break;
                    return (buffer, false);
                }
                if (keepTail && buffer.Length >= 2 * limit)
                {
                    Array.Copy(buffer, length - limit, buffer, 0, limit);
                    length = limit;
                    complete = false;
                }
                else
                {
                    Array.Resize(ref buffer, Math.Min(buffer.Length * 2, keepTail ? 2 * limit : limit));
                }
            }
            var n = await stream.ReadAsync(buffer.AsMemory(length), ct);
            if (n == 0) break;
            length += n;
        }
        if (length > limit)
        {
            complete = false;
            return (buffer[(length - limit)..length], complete);
        }
        return (buffer[..length], complete);
    }

    private static RayJobDetails Details(JsonNode node, string path)
    {
        try
        {
            return node.Deserialize(RayDashboardJson.Default.RayJobDetails) ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new RayJobApiException($"Ray's answer to {path} is not a JobDetails: {ex.Message} {Excerpt(node.ToJsonString())}", 200, null, ex);
        }
    }

    private RayJobApiException Failure(string method, string path, int status, string body) =>
        new($"Ray's dashboard at {Dashboard} answered {method} {path} with {status}: {Excerpt(body)}", status, Excerpt(body), null);

    private static string Excerpt(string text) => text.Length <= ExcerptChars ? text : "…" + text[^ExcerptChars..];

    /// <summary>Connection refused or reset, a name that does not resolve, or the client's timeout: nobody answered.</summary>
    private static bool IsUnreachable(Exception ex, CancellationToken ct) =>
        ex is HttpRequestException or IOException or SocketException || IsTimeout(ex, ct);

    private static bool IsTimeout(Exception ex, CancellationToken ct) => ex is OperationCanceledException && !ct.IsCancellationRequested;
}

/// <summary>A failed call to Ray's Job API: the HTTP status (null when nobody answered) and the end of Ray's answer.</summary>
public sealed class RayJobApiException : Exception
{
    public RayJobApiException(string message, int? statusCode, string? bodyExcerpt, Exception? innerException)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        BodyExcerpt = bodyExcerpt;
    }

    public RayJobApiException()
    {
    }

    public RayJobApiException(string message) : base(message)
    {
    }

    public RayJobApiException(string message, Exception innerException) : base(message, innerException)
    {
    }

    public int? StatusCode { get; }

    /// <summary>At most the last 2000 characters of the answer's body.</summary>
    public string? BodyExcerpt { get; }
}

/// <summary>The named HTTP client that <see cref="RayJobClient"/>s use.</summary>
public static class RayJobClientRegistration
{
    /// <summary>
    /// Longer than Ray's own wait for a head's job agent (WAIT_AVAILABLE_AGENT_TIMEOUT, 10 s), after which a submit
    /// answers "No available agent", and enough to read a driver log of <see cref="RayJobClient.DefaultMaxLogChars"/>.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddRayJobClient(this IServiceCollection services)
    {
        services.AddHttpClient(RayJobClient.HttpClientName, c => c.Timeout = Timeout)
            // Heads are reached directly (loopback, a cluster's service): no proxy from the environment in between.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                UseProxy = false,
                ConnectTimeout = TimeSpan.FromSeconds(5),
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            });
        return services;
    }
}
