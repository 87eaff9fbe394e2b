using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Simulated;
using Rayfleet.Server.Reconciler;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

public sealed class RequeueTests
{
    /// <summary>The simulated provider, except that every observation asks to be looked at again in two seconds.</summary>
    private sealed class EveryTwoSeconds(SimulatedProvider inner) : IClusterProvider
    {
        public readonly ConcurrentDictionary<string, int> Applies = new(StringComparer.Ordinal);

        public string Name => inner.Name;

        public async Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken)
        {
            Applies.AddOrUpdate(request.ClusterId, 1, (_, n) => n + 1);
            return await inner.ApplyAsync(request, cancellationToken) with { RequeueAfter = TimeSpan.FromSeconds(2) };
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
    public async Task A_cluster_that_asks_to_be_requeued_keeps_a_constant_pass_rate_across_resyncs_and_enqueues()
    {
        EveryTwoSeconds? provider = null;
        using var host = new RayfleetHost(
            settings: new Dictionary<string, string?> { ["Rayfleet:Reconciler:ResyncInterval"] = "00:00:07.300" },
            services: s =>
            {
                s.RemoveAll<IClusterProvider>();
                s.AddSingleton<SimulatedProvider>();
                s.AddSingleton<IClusterProvider>(sp => provider = new EveryTwoSeconds(sp.GetRequiredService<SimulatedProvider>()));
            });
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new { name = "steady", headSpec = new { cpu = "1", memory = "4Gi" } });
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        // Six windows of 30 s on the fake clock, with a resync every 7.3 s and three extra enqueues per window. A look
        // every 2 s gives 15 passes a window; each resync or enqueue adds at most one, and replaces the pending look.
        var perWindow = new List<int>();
        for (var window = 0; window < 6; window++)
        {
            var before = provider!.Applies.GetValueOrDefault(id);
            for (var step = 0; step < 60; step++)
            {
                if (step % 20 == 10) host.Reconciler.Enqueue(id);
                host.Clock.Advance(TimeSpan.FromMilliseconds(500));
                await api.WaitForQuietAsync();
            }
            perWindow.Add(provider.Applies.GetValueOrDefault(id) - before);
        }

        var counts = string.Join(", ", perWindow);
        Assert.All(perWindow, n => Assert.InRange(n, 10, 15 + 5 + 3 + 2));
        Assert.True(perWindow[^1] <= perWindow[0] + 3, $"passes per window grew: {counts}");
        Assert.InRange(host.Reconciler.PendingRequeues, 0, 1);
    }

    [Fact]
    public async Task At_most_one_delayed_add_is_pending_per_key_and_the_earlier_wins()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var queue = new WorkQueue(clock);
        queue.AddAfter("a", TimeSpan.FromSeconds(10));
        queue.AddAfter("a", TimeSpan.FromSeconds(3));
        queue.AddAfter("a", TimeSpan.FromSeconds(20));
        Assert.Equal(1, queue.PendingCount);

        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal("a", await queue.TakeAsync(CancellationToken.None));
        queue.Done("a");
        Assert.Equal(0, queue.PendingCount);

        // Nothing else fires later: the replaced timers are gone.
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task An_immediate_add_drops_the_pending_delayed_one()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var queue = new WorkQueue(clock);
        queue.AddAfter("a", TimeSpan.FromSeconds(5));
        queue.Add("a");
        Assert.Equal(0, queue.PendingCount);
        Assert.Equal("a", await queue.TakeAsync(CancellationToken.None));
        queue.Done("a");
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void Failures_are_counted_per_key_and_forgotten_on_success()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var queue = new WorkQueue(clock, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var first = queue.AddRateLimited("a");
        var second = queue.AddRateLimited("a");
        var third = queue.AddRateLimited("a");
        Assert.Equal(3, queue.Failures("a"));
        Assert.Equal(0, queue.Failures("b"));
        Assert.InRange(first.TotalSeconds, 0.5, 1.5);
        Assert.InRange(second.TotalSeconds, 1, 3);
        Assert.InRange(third.TotalSeconds, 2, 6);
        Assert.Equal(1, queue.PendingCount);
        queue.Forget("a");
        Assert.Equal(0, queue.Failures("a"));
    }
}
