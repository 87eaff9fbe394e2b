using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Against a real cluster with KubeRay (v1.3 or newer) installed, named by the kubeconfig in RAYFLEET_E2E_KUBECONFIG
/// (optionally RAYFLEET_E2E_CONTEXT); skipped without it. It pulls the Ray image of the default release, so the first
/// run can take minutes. It leaves the namespace rayfleet-e2e-w-00000000000e2e00 behind, empty.
/// </summary>
[Collection(KubernetesCollection.Name)]
public sealed class EndToEndTests
{
    [SkippableFact]
    public async Task A_real_RayCluster_starts_stops_starts_again_and_goes_away()
    {
        var kubeconfig = Environment.GetEnvironmentVariable("RAYFLEET_E2E_KUBECONFIG");
        Skip.If(string.IsNullOrEmpty(kubeconfig), "RAYFLEET_E2E_KUBECONFIG names no kubeconfig: no real cluster to test against.");

        var options = new KubernetesProviderOptions
        {
            KubeconfigPath = kubeconfig,
            KubeconfigContext = Environment.GetEnvironmentVariable("RAYFLEET_E2E_CONTEXT"),
            NamespacePattern = "rayfleet-e2e-{workspaceId}",
        };
        using var client = new k8s.Kubernetes(KubernetesRegistration.ClientConfiguration(options));
        await using var provider = new KubernetesProvider(client, Options.Create(options), TimeProvider.System, NullLogger<KubernetesProvider>.Instance);

        var clusterId = Ids.Cluster();
        var spec = ManifestCases.Minimal with
        {
            Head = ManifestCases.Minimal.Head with { Cpu = "1", Memory = "2Gi" },
            Workers = [new WorkerGroupSpec { GroupName = "w", Replica = 1, MinReplica = 1, MaxReplica = 1, Cpu = "1", Memory = "2Gi", QueueName = "root_queue" }],
        };
        ProviderClusterRequest Request(string instance) =>
            ManifestCases.Resolved(clusterId, instance, spec, new Dictionary<string, int> { ["w"] = 1 }) with { WorkspaceId = "w-00000000000e2e00" };

        var first = Ids.Instance(clusterId);
        var second = Ids.Instance(clusterId);
        try
        {
            await UntilAsync(async () => (await provider.ApplyAsync(Request(first), CancellationToken.None)).Phase == ObservedPhase.Ready, TimeSpan.FromMinutes(10));
            await UntilAsync(() => provider.StopAsync(first, CancellationToken.None), TimeSpan.FromMinutes(3));
            await UntilAsync(async () => (await provider.ApplyAsync(Request(second), CancellationToken.None)).Phase == ObservedPhase.Ready, TimeSpan.FromMinutes(5));
            Assert.Equal([second], await provider.ListInstancesAsync(clusterId, CancellationToken.None));
        }
        finally
        {
            await UntilAsync(async () => await provider.RemoveAsync(first, CancellationToken.None) & await provider.RemoveAsync(second, CancellationToken.None), TimeSpan.FromMinutes(3));
        }
        Assert.Empty(await provider.ListInstancesAsync(clusterId, CancellationToken.None));
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan deadline)
    {
        var end = DateTime.UtcNow + deadline;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        while (!await condition())
        {
            if (DateTime.UtcNow > end) throw new TimeoutException("The real cluster did not get there in time.");
            await timer.WaitForNextTickAsync();
        }
    }
}
