using System.Globalization;
using System.Net;
using k8s.Autorest;
using Polly;
using Polly.Retry;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// The one backoff of the Kubernetes provider, built from <see cref="KubernetesProviderOptions.RetryBaseDelay"/> and
/// <see cref="KubernetesProviderOptions.RetryMaxDelay"/>: exponential, capped, with jitter (half to all of the step),
/// or the server's own <c>Retry-After</c> (capped too) when it sent one. API calls retry through the Polly pipelines
/// built here; the watch loops take their pauses from <see cref="Delay"/>. Every wait runs on the injected clock.
/// </summary>
public sealed class KubernetesRetryPolicy(KubernetesProviderOptions options, TimeProvider time)
{
    /// <summary>Conflicts on an apply: read again and rebuild, up to three times more, at once.</summary>
    private const int ConflictRetries = 3;

    /// <summary>The wait after <paramref name="failures"/> failures in a row (1 for the first).</summary>
    public TimeSpan Delay(int failures, TimeSpan? retryAfter = null)
    {
        if (retryAfter is { } server) return server > options.RetryMaxDelay ? options.RetryMaxDelay : server;
        // At least a millisecond to start from, so that a zero base delay never makes a busy loop of a failing watch.
        var exp = Math.Max(1, options.RetryBaseDelay.TotalMilliseconds) * Math.Pow(2, Math.Min(failures - 1, 16));
        var capped = Math.Min(exp, options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + Random.Shared.NextDouble() / 2));
    }

    /// <summary>
    /// Retries an API call on 429, 5xx, an attempt's timeout and transport errors, up to
    /// <see cref="KubernetesProviderOptions.RetryAttempts"/> attempts in all; never once the caller cancelled.
    /// </summary>
    public ResiliencePipeline ApiCalls(Func<OnRetryArguments<object>, ValueTask> onRetry)
    {
        if (options.RetryAttempts <= 1) return ResiliencePipeline.Empty;
        return new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.RetryAttempts - 1,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception switch
                {
                    HttpOperationException h => Retriable(h.Response?.StatusCode),
                    OperationCanceledException or HttpRequestException or IOException => !args.Context.CancellationToken.IsCancellationRequested,
                    _ => false,
                }),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    Delay(args.AttemptNumber + 1, args.Outcome.Exception is HttpOperationException h ? RetryAfter(h) : null)),
                OnRetry = onRetry,
            })
            .Build();
    }

    /// <summary>Retries an apply that met a 409 Conflict (someone wrote the resource between our read and our write).</summary>
    public ResiliencePipeline Conflicts() =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = ConflictRetries,
                Delay = TimeSpan.Zero,
                BackoffType = DelayBackoffType.Constant,
                ShouldHandle = new PredicateBuilder().Handle<KubernetesApiException>(ex => ex.IsConflict),
            })
            .Build();

    private static bool Retriable(HttpStatusCode? status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    private static TimeSpan? RetryAfter(HttpOperationException ex)
    {
        if (ex.Response?.Headers is not { } headers) return null;
        foreach (var (key, values) in headers)
            if (string.Equals(key, "Retry-After", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                return TimeSpan.FromSeconds(seconds);
        return null;
    }
}
