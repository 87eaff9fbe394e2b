using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Support.ApiClient;

namespace Rayfleet.Server.Tests.Reconciler;

/// <summary>
/// The API writes the desired half of a cluster and bumps its generation; only the reconciler writes the observed
/// half. The API's wake-ups are held back here, so what the handlers wrote can be looked at before any pass.
/// </summary>
public sealed class DesiredObservedTests
{
    /// <summary>Records the API's wake-ups instead of passing them on; the test hands them over when it wants.</summary>
    private sealed class HeldTrigger : IReconcileTrigger
    {
        public readonly List<string> Held = [];

        public void Enqueue(string clusterId)
        {
            lock (Held) Held.Add(clusterId);
        }
    }

    private static async Task<ClusterRow> RowAsync(RayfleetHost host, string id)
    {
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<RayfleetDbContext>().Clusters.AsNoTracking().SingleAsync(c => c.Id == id);
    }

    private static async Task<int> GrantsAsync(RayfleetHost host, string id)
    {
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<RayfleetDbContext>().Reservations.CountAsync(r => r.ClusterId == id);
    }

    [Fact]
    public async Task Handlers_write_only_desired_state_and_get_shows_the_accepted_change_at_once()
    {
        var held = new HeldTrigger();
        using var host = new RayfleetHost(services: s =>
        {
            s.RemoveAll<IReconcileTrigger>();
            s.AddSingleton<IReconcileTrigger>(held);
        });
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "split",
            headSpec = new { cpu = "1", memory = "4Gi" },
            workerSpec = new object[] { new { groupName = "g", replica = 1, cpu = "1", memory = "4Gi" } },
        });

        // Create: nothing observed, nothing granted; Get says Starting from the desired half alone.
        var created = await RowAsync(host, id);
        Assert.Null(created.State);
        Assert.Null(created.RunSpecJson);
        Assert.Equal(1, created.Generation);
        Assert.Equal(0, created.ObservedGeneration);
        Assert.Equal(0, await GrantsAsync(host, id));
        var shown = await api.GetClusterAsync(ws, id);
        Assert.Equal("Starting", shown["state"]!.GetValue<string>());
        Assert.Equal(created.InstanceId, shown["instanceId"]!.GetValue<string>());

        host.Reconciler.Enqueue(id);
        await api.WaitForClusterAsync(ws, id, c => InState("Running")(c) && c["instances"]!.AsArray().Count == 2);
        var running = await RowAsync(host, id);
        Assert.Equal(running.Generation, running.ObservedGeneration);
        Assert.Equal(1, await GrantsAsync(host, id));

        // Update: the new replica count and the restart flag show at once; the observed half is untouched.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}",
            new { headSpec = new { memory = "8Gi" }, workerSpec = new object[] { new { groupName = "g", replica = 2 } } })).EnsureOk();
        var updated = await RowAsync(host, id);
        Assert.Equal(running.Generation + 1, updated.Generation);
        Assert.Equal(running.ObservedGeneration, updated.ObservedGeneration);
        Assert.Equal(running.RunSpecJson, updated.RunSpecJson);
        Assert.Equal(running.NodesJson, updated.NodesJson);
        Assert.False(updated.Modified);
        shown = await api.GetClusterAsync(ws, id);
        Assert.Equal("Running", shown["state"]!.GetValue<string>());
        Assert.True(shown["modified"]!.GetValue<bool>());
        Assert.Equal(2, shown["workerSpec"]![0]!["replica"]!.GetValue<int>());
        var listed = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).EnsureOk().Json["rayClusters"]![0]!;
        Assert.True(listed["modified"]!.GetValue<bool>());
        Assert.Equal(2, listed["workerSpec"]![0]!["replica"]!.GetValue<int>());

        host.Reconciler.Enqueue(id);
        var scaled = await api.WaitForClusterAsync(ws, id, c => c["instances"]!.AsArray().Count == 3);
        Assert.True(scaled["modified"]!.GetValue<bool>());
        Assert.True((await RowAsync(host, id)).Modified);

        // Stop: Get says Stopping; the row still holds what was observed, and the grant is the reconciler's to release.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop", new { })).EnsureOk();
        var stopping = await RowAsync(host, id);
        Assert.Equal("Running", stopping.State);
        Assert.Equal(1, await GrantsAsync(host, id));
        Assert.Equal("Stopping", (await api.GetClusterAsync(ws, id))["state"]!.GetValue<string>());
        // A Start while the Stop is accepted but not yet acted on is refused like any Start of a Stopping cluster.
        var refused = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { });
        Assert.Equal(System.Net.HttpStatusCode.Conflict, refused.Status);
        Assert.Contains("Stopping", refused.Message, StringComparison.Ordinal);

        host.Reconciler.Enqueue(id);
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        var stopped = await RowAsync(host, id);
        Assert.Equal(stopped.Generation, stopped.ObservedGeneration);
        Assert.Equal(0, await GrantsAsync(host, id));

        // Start: a new instance at once in Get, without nodes; the row's observed instance is still the old one.
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { })).EnsureOk();
        var started = await RowAsync(host, id);
        Assert.NotEqual(started.InstanceId, started.ObservedInstanceId);
        Assert.Equal("Stopped", started.State);
        shown = await api.GetClusterAsync(ws, id);
        Assert.Equal("Starting", shown["state"]!.GetValue<string>());
        Assert.Equal(started.InstanceId, shown["instanceId"]!.GetValue<string>());
        Assert.Empty(shown["instances"]!.AsArray());
        Assert.False(shown["modified"]!.GetValue<bool>());
        listed = (await api.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).EnsureOk().Json["rayClusters"]![0]!;
        Assert.Equal("Starting", listed["state"]!.GetValue<string>());
        Assert.Null(listed["dashboardUrl"]);

        lock (held.Held) Assert.Equal(4, held.Held.Count(h => h == id));
    }
}

/// <summary>
/// Counts, per pass, the saves that carry a change of a cluster row. A pass reads its row once, into an instance of its
/// own, and every save goes through the store's writer with that instance: so the count is kept per row instance.
/// </summary>
internal sealed class ReconcilerSaves : Microsoft.EntityFrameworkCore.Diagnostics.SaveChangesInterceptor
{
    private readonly Dictionary<ClusterRow, int> _saves = new(ReferenceEqualityComparer.Instance);

    public int MostForOnePass
    {
        get
        {
            lock (_saves) return _saves.Count == 0 ? 0 : _saves.Values.Max();
        }
    }

    public int Passes
    {
        get
        {
            lock (_saves) return _saves.Count;
        }
    }

    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> SavingChangesAsync(
        Microsoft.EntityFrameworkCore.Diagnostics.DbContextEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context)
            foreach (var entry in context.ChangeTracker.Entries<ClusterRow>())
                if (entry.State is EntityState.Modified or EntityState.Deleted)
                    lock (_saves) _saves[entry.Entity] = _saves.GetValueOrDefault(entry.Entity) + 1;
        return base.SavingChangesAsync(eventData, result, cancellationToken);
    }
}

public sealed class OneCommitPerPassTests
{
    [Fact]
    public async Task Every_reconcile_pass_commits_at_most_once_admission_included()
    {
        ReconcilerSaves? saves = null;
        using var host = new RayfleetHost(services: s =>
            s.AddSingleton<Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor>(_ => saves = new ReconcilerSaves()));
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var id = await api.CreateClusterAsync(ws, new
        {
            name = "once",
            headSpec = new { cpu = "1", memory = "4Gi" },
            workerSpec = new object[] { new { groupName = "g", replica = 1, cpu = "1", memory = "4Gi" } },
        });
        await api.WaitForClusterAsync(ws, id, InState("Running"));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", new { workerSpec = new object[] { new { groupName = "g", replica = 3 } } })).EnsureOk();
        await api.WaitForClusterAsync(ws, id, c => c["instances"]!.AsArray().Count == 4);
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/stop", new { })).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Stopped"));
        (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}/start", new { })).EnsureOk();
        await api.WaitForClusterAsync(ws, id, InState("Running"));

        Assert.True(saves!.Passes >= 5, $"expected several passes that wrote, saw {saves.Passes}");
        Assert.Equal(1, saves.MostForOnePass);
    }
}
