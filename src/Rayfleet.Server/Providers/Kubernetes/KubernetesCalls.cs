using System.Net;
using System.Text.Json;
using k8s.Autorest;
using Polly;
using Polly.Retry;

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
/// Runs one API call with a time limit per attempt, retried by <see cref="KubernetesRetryPolicy.ApiCalls"/> (429
/// honouring Retry-After, 5xx, timeouts and transport errors). Calls for different clusters share nothing here, so a
/// slow call holds up only the pass that made it.
/// </summary>
public sealed partial class KubernetesCalls
{
    private static readonly ResiliencePropertyKey<string> What = new("rayfleet.kubernetes.what");

    private readonly KubernetesProviderOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _retry;

    public KubernetesCalls(KubernetesProviderOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        Retry = new KubernetesRetryPolicy(options, time);
        _retry = Retry.ApiCalls(OnRetry);
    }

    /// <summary>The provider's one backoff policy, shared with the watches.</summary>
    public KubernetesRetryPolicy Retry { get; }

    /// <summary>Attempts made, all calls together; for tests and diagnostics.</summary>
    public long Attempts => Interlocked.Read(ref _attempts);
    private long _attempts;

    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        context.Properties.Set(What, what);
        try
        {
            return await _retry.ExecuteAsync(
                static async (context, state) => await state.Self.AttemptAsync(state.call, context.CancellationToken),
                context, (Self: this, call));
        }
        catch (HttpOperationException ex)
        {
            throw Wrap(what, ex);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new KubernetesApiException(null, $"{what}: no answer within {_options.RequestTimeout.TotalSeconds:0.#} s.", ex);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !ct.IsCancellationRequested)
        {
            throw new KubernetesApiException(null, $"{what}: {ex.Message}", ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task<T> AttemptAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _attempts);
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        return await call(linked.Token);
    }

    private ValueTask OnRetry(OnRetryArguments<object> args)
    {
        var what = args.Context.Properties.GetValue(What, "call");
        LogRetry(_logger, what, args.AttemptNumber + 1, Describe(args.Outcome.Exception!), args.RetryDelay);
        return ValueTask.CompletedTask;
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
