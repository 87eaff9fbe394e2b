using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Simulated;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

public sealed class FaultIsolationTests
{
    /// <summary>The simulated provider, except that it throws for clusters whose name starts with "poison" while armed.</summary>
    private sealed class PoisonedProvider(SimulatedProvider inner) : IClusterProvider
    {
        public volatile bool Armed = true;
        public int Failures;

        public string Name => inner.Name;

        public Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken)
        {
            if (Armed && request.Spec.Name.StartsWith("poison", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref Failures);
                throw new InvalidOperationException("backend unavailable");
            }
            return inner.ApplyAsync(request, cancellationToken);
        }

        public Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken) => inner.RemoveAsync(instanceId, cancellationToken);

        public Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken) =>
            inner.ListInstancesAsync(clusterId, cancellationToken);

        public Task<Rayfleet.Server.Jobs.IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken) =>
            inner.JobApiAsync(instanceId, cancellationToken);

        public Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken) =>
            inner.CollectNodeLogsAsync(instanceId, sink, cancellationToken);
    }

    [Fact]
    public async Task A_cluster_whose_provider_calls_fail_is_retried_with_backoff_and_never_stops_the_others()
    {
        PoisonedProvider? poisoned = null;
        using var host = new RayfleetHost(services: s =>
        {
            s.RemoveAll<IClusterProvider>();
            s.AddSingleton<SimulatedProvider>();
            s.AddSingleton<IClusterProvider>(sp => poisoned = new PoisonedProvider(sp.GetRequiredService<SimulatedProvider>()));
        });
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();

        var bad = await api.CreateClusterAsync(ws, new { name = "poison", headSpec = new { cpu = "1", memory = "4Gi" } });
        var good = new List<string>();
        for (var i = 0; i < 5; i++)
            good.Add(await api.CreateClusterAsync(ws, new { name = $"fine{i}", headSpec = new { cpu = "1", memory = "4Gi" } }));

        foreach (var id in good) await api.WaitForClusterAsync(ws, id, InState("Running"));
        Assert.True(poisoned!.Failures >= 2, $"expected retries, saw {poisoned.Failures} failures");
        Assert.Equal("Starting", (await api.GetClusterAsync(ws, bad))["state"]!.GetValue<string>());

        // Backoff grows: over 10 simulated seconds a cluster failing every time is retried a handful of times, not hundreds.
        var before = poisoned.Failures;
        for (var i = 0; i < 20; i++)
        {
            host.Clock.Advance(TimeSpan.FromMilliseconds(500));
            await api.WaitForQuietAsync();
        }
        Assert.InRange(poisoned.Failures - before, 1, 8);

        poisoned.Armed = false;
        await api.WaitForClusterAsync(ws, bad, InState("Running"), step: TimeSpan.FromSeconds(5), deadline: TimeSpan.FromSeconds(30));
    }
}
