using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Tests.Support;

public static class Eventually
{
    /// <summary>Advances the fake clock until the condition holds; fails after a wall-clock deadline.</summary>
    public static async Task HoldsAsync(RayfleetHost host, Func<Task<bool>> condition, TimeSpan? step = null, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(20));
        var api = host.Api();
        while (!await condition())
        {
            if (DateTime.UtcNow > end) throw new TimeoutException("The condition did not come true in time.");
            host.Clock.Advance(step ?? TimeSpan.FromMilliseconds(500));
            await api.WaitForQuietAsync();
        }
    }
}

public static class HostInspection
{
    public static async Task<IReadOnlyList<string>> GetSimulatedInstancesAsync(this IServiceProvider services)
    {
        var provider = services.GetRequiredService<IProviderRegistry>().Get("simulated");
        return await provider.ListInstancesAsync(null, CancellationToken.None);
    }

    public static async Task<bool> ClusterRowExistsAsync(this IServiceProvider services, string clusterId)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        return await db.Clusters.AnyAsync(c => c.Id == clusterId);
    }
}
