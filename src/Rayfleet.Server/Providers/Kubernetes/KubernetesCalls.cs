using System.Globalization;
using System.Net;
using System.Text.Json;
using k8s.Autorest;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// A failed API call, carrying the status code and the server's own message but never the request: the client's
/// exception keeps the request body, which for a Secret holds the Redis password.
/// </summary>
public sealed class KubernetesApiException(HttpStatusCode? status, string message, Exception? inner = null)
    : Exception(message, inner is HttpOperationException ? null : inner)
{
    public HttpStatusCode? Status { get; } = status;

    public bool IsNotFound => Status == HttpStatusCode.NotFound;
    public bool IsConflict => Status == HttpStatusCode.Conflict;
}

/// <summary>
/// Runs one API call with a time limit per attempt, retrying with exponential backoff and full jitter on 429
/// (honouring Retry-After), 5xx, timeouts and transport errors. Calls for different clusters share nothing here, so a
/// slow call holds up only the pass that made it.
/// </summary>
public sealed partial class KubernetesCalls(KubernetesProviderOptions options, TimeProvider time, ILogger logger)
{
    /// <summary>Attempts made, all calls together; for tests and diagnostics.</summary>
    public long Attempts => Interlocked.Read(ref _attempts);
    private long _attempts;

    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            Interlocked.Increment(ref _attempts);
            using var timeout = new CancellationTokenSource(options.RequestTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            TimeSpan? retryAfter = null;
            Exception failure;
            try
            {
                return await call(linked.Token);
            }
            catch (HttpOperationException ex)
            {
                var status = ex.Response?.StatusCode;
                if (!Retriable(status) || attempt >= options.RetryAttempts) throw Wrap(what, ex);
                retryAfter = RetryAfter(ex);
                failure = ex;
            }
            catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
            {
                if (attempt >= options.RetryAttempts) throw new KubernetesApiException(null, $"{what}: no answer within {options.RequestTimeout.TotalSeconds:0.#} s.", ex);
                failure = ex;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException && !ct.IsCancellationRequested)
            {
                if (attempt >= options.RetryAttempts) throw new KubernetesApiException(null, $"{what}: {ex.Message}", ex);
                failure = ex;
            }

            var delay = Backoff(attempt, retryAfter);
            var reason = Describe(failure);
            LogRetry(logger, what, attempt, reason, delay);
            await Task.Delay(delay, time, ct);
        }
    }

    private static bool Retriable(HttpStatusCode? status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    private TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter is { } server) return server > options.RetryMaxDelay ? options.RetryMaxDelay : server;
        var exp = options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 16));
        var capped = Math.Min(exp, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + Random.Shared.NextDouble() / 2));
    }

    private static TimeSpan? RetryAfter(HttpOperationException ex)
    {
        if (ex.Response?.Headers is not { } headers) return null;
        foreach (var (key, values) in headers)
            if (string.Equals(key, "Retry-After", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                return TimeSpan.FromSeconds(seconds);
        return null;
    }

    private static string Describe(Exception ex) => ex switch
    {
        HttpOperationException h => $"{(int?)h.Response?.StatusCode} {h.Response?.StatusCode}",
        OperationCanceledException => "timed out",
        _ => ex.GetType().Name + ": " + ex.Message,
    };

    public static KubernetesApiException Wrap(string what, HttpOperationException ex)
    {
        var status = ex.Response?.StatusCode;
        var message = ServerMessage(ex.Response?.Content) ?? ex.Response?.ReasonPhrase ?? ex.Message;
        return new KubernetesApiException(status, $"{what}: {(int?)status} {message}", ex);
    }

    /// <summary>The message of a Kubernetes Status body, when the response is one.</summary>
    private static string? ServerMessage(string? content)
    {
        if (string.IsNullOrEmpty(content)) return null;
        try
        {
            using var doc = JsonDocument.Parse(content);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String
                ? m.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes call {What} failed (attempt {Attempt}: {Failure}); retrying in {Delay}")]
    private static partial void LogRetry(ILogger logger, string what, int attempt, string failure, TimeSpan delay);
}
