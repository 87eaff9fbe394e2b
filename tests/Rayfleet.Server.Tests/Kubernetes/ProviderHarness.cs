using System.Collections.Concurrent;
using System.Threading.Channels;
using k8s;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>Every log line written, formatted, for tests that assert what a log never holds.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            owner.Lines.Enqueue($"{category} scope: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}

/// <summary>The real provider and KubernetesClient against the fake API server, with a log that is kept.</summary>
public sealed class ProviderHarness : IAsyncDisposable
{
    private readonly Channel<string> _changes = Channel.CreateUnbounded<string>();
    private readonly ILoggerFactory _loggers;

    private ProviderHarness(FakeKubeApiServer api, KubernetesProviderOptions options)
    {
        Api = api;
        Options = options;
        _loggers = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        Client = new k8s.Kubernetes(KubernetesRegistration.ClientConfiguration(options));
        Provider = new KubernetesProvider(Client, Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, _loggers.CreateLogger<KubernetesProvider>());
        Provider.Subscribe(id => _changes.Writer.TryWrite(id));
    }

    public FakeKubeApiServer Api { get; }
    public KubernetesProviderOptions Options { get; }
    public KubernetesProvider Provider { get; }
    public IKubernetes Client { get; }
    public IDataProtectionProvider Protection { get; } = new EphemeralDataProtectionProvider();
    public CapturingLoggerProvider Logs { get; } = new();
    public FakeKubeRay KubeRay => Api.KubeRay;

    public static async Task<ProviderHarness> StartAsync(Action<KubernetesProviderOptions>? configure = null)
    {
        var api = await FakeKubeApiServer.StartAsync();
        var options = new KubernetesProviderOptions
        {
            Host = api.Url,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            RetryMaxDelay = TimeSpan.FromMilliseconds(200),
            RequestTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return new ProviderHarness(api, options);
    }

    public string Namespace(string workspaceId = ManifestCases.WorkspaceId) => Provider.NamespaceFor(workspaceId);

    public ProviderClusterRequest Request(ClusterSpec spec, string instanceId, IReadOnlyDictionary<string, int>? replicas = null, string clusterId = ManifestCases.ClusterId) =>
        ManifestCases.Resolved(clusterId, instanceId, spec, replicas,
            spec.DisplayReleaseVersion == ManifestCases.OldRelease.DisplayReleaseVersion ? ManifestCases.OldRelease : ManifestCases.Release, Protection);

    public Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request) => Provider.ApplyAsync(request, CancellationToken.None);

    /// <summary>Waits until the provider has reported a change of the cluster (a watch event), with a deadline.</summary>
    public async Task ChangedAsync(string clusterId = ManifestCases.ClusterId, TimeSpan? deadline = null)
    {
        using var cts = new CancellationTokenSource(deadline ?? TimeSpan.FromSeconds(10));
        while (await _changes.Reader.ReadAsync(cts.Token) != clusterId)
        {
        }
    }

    /// <summary>Drops change reports seen so far.</summary>
    public void ForgetChanges()
    {
        while (_changes.Reader.TryRead(out _))
        {
        }
    }

    /// <summary>Applies until the observation satisfies <paramref name="until"/>, waking on watch events; fails after a deadline.</summary>
    public async Task<ProviderObservation> ApplyUntilAsync(ProviderClusterRequest request, Func<ProviderObservation, bool> until, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var observation = await ApplyAsync(request);
            if (until(observation)) return observation;
            if (DateTime.UtcNow > end) throw new TimeoutException($"Last observation: {observation.Phase}: {observation.Message}");
            await Conditions.NextChangeAsync(_changes.Reader, TimeSpan.FromMilliseconds(200));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Provider.DisposeAsync();
        Client.Dispose();
        await Api.DisposeAsync();
        _loggers.Dispose();
    }
}

public static class Conditions
{
    /// <summary>Waits for the next report on the channel, or at most <paramref name="atMost"/> (the caller looks again either way).</summary>
    public static async Task NextChangeAsync(ChannelReader<string> reader, TimeSpan atMost)
    {
        try
        {
            await reader.WaitToReadAsync().AsTask().WaitAsync(atMost);
            reader.TryRead(out _);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Polls a condition until it holds, failing after a wall-clock deadline.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(10));
        var idle = Channel.CreateUnbounded<string>();
        while (!condition())
        {
            if (DateTime.UtcNow > end) throw new TimeoutException($"Timed out waiting for: {what}");
            await NextChangeAsync(idle.Reader, TimeSpan.FromMilliseconds(20));
        }
    }
}
