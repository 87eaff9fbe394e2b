using System.Data.Common;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Persistence;

/// <summary>
/// The workspace metadata every request reads is held in memory (<see cref="WorkspaceCache"/>): what this process
/// commits is seen by the very next request, a change committed by another process within the cache's time to live, and
/// a read that raced with a change is not kept.
/// </summary>
public sealed class WorkspaceCacheTests
{
    private static string Clusters(string ws) => $"/api/v1/workspaces/{ws}/rayCluster";
    private static string NetworkServices(string ws) => $"/api/v1/workspaces/{ws}/networkServices";
    private static JsonNode WithNetworkService(string name) => Bodies.Minimal().Set("networkServiceName", $"\"{name}\"");

    [Fact]
    public async Task What_a_request_changed_is_what_the_next_request_validates_against()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();

        // Read (and held) without the network service...
        AssertFieldError(await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc")), "InvalidNetworkService.NotFound", "networkServiceName");
        (await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        // ...and the create right after the acknowledgement sees it.
        (await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc"))).EnsureOk();

        // A deleted workspace is gone for the next request, though it was read a moment before.
        var other = await api.CreateWorkspaceAsync("short-lived", "simulated");
        (await api.RawGetAsync($"/api/v1/workspaces/{other}")).EnsureOk();
        (await api.RawDeleteAsync($"/api/v1/workspaces/{other}")).EnsureOk();
        AssertError(await api.RawGetAsync($"/api/v1/workspaces/{other}"), HttpStatusCode.NotFound, "InvalidWorkspace.NotFound", other);
    }

    [Fact]
    public async Task A_read_that_raced_with_a_change_is_not_kept()
    {
        var gate = new PausedRead("FROM \"network_services\"");
        using var host = new RayfleetHost(services: s => s.AddSingleton<IInterceptor>(gate));
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();

        // A create reads the catalogue, from a snapshot without the network service, and is held there...
        gate.Arm();
        var racing = api.RawPostAsync(Clusters(ws), WithNetworkService("vpc"));
        await gate.Reading.WaitAsync(TimeSpan.FromSeconds(30));
        // ...while the network service is created and acknowledged.
        (await api.RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        gate.Release();
        AssertFieldError(await racing, "InvalidNetworkService.NotFound", "networkServiceName");

        // The older read was not kept: the next create sees the network service at once.
        (await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc"))).EnsureOk();
    }

    [Fact]
    public async Task A_change_committed_by_another_process_is_seen_once_the_time_to_live_has_passed()
    {
        using var first = new RayfleetHost();
        var api = first.Api();
        var ws = await api.DefaultWorkspaceAsync();
        AssertFieldError(await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc")), "InvalidNetworkService.NotFound", "networkServiceName");

        // Another replica on the same store creates it: nothing evicts the first one's entry, which still serves...
        using (var second = new RayfleetHost(first.DataDirectory))
            (await second.Api().RawPostAsync(NetworkServices(ws), new JsonObject { ["name"] = "vpc" })).EnsureOk();
        AssertFieldError(await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc")), "InvalidNetworkService.NotFound", "networkServiceName");

        // ...until its time to live has passed on the service's clock.
        first.Clock.Advance(WorkspaceCache.Ttl + TimeSpan.FromMilliseconds(1));
        (await api.RawPostAsync(Clusters(ws), WithNetworkService("vpc"))).EnsureOk();
    }

    /// <summary>Holds the first read whose SQL contains <c>text</c> after it executed (its snapshot taken), once armed.</summary>
    private sealed class PausedRead(string text) : DbCommandInterceptor
    {
        private readonly TaskCompletionSource _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _armed;

        public Task Reading => _reading.Task;
        public void Arm() => Volatile.Write(ref _armed, 1);
        public void Release() => _release.TrySetResult();

        public override async ValueTask<DbDataReader> ReaderExecutedAsync(DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains(text, StringComparison.Ordinal) && Interlocked.Exchange(ref _armed, 0) == 1)
            {
                _reading.TrySetResult();
                await _release.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }
            return result;
        }
    }
}
