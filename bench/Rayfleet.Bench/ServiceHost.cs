using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Bench;

/// <summary>The real service, started in this process on a loopback port with a fresh data folder.</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServiceHost(WebApplication app, Uri baseAddress, string databasePath)
    {
        _app = app;
        BaseAddress = baseAddress;
        DatabasePath = databasePath;
    }

    public Uri BaseAddress { get; }

    /// <summary>The service's SQLite file (the path AddRayfleet derives from Rayfleet:DataDirectory).</summary>
    public string DatabasePath { get; }

    public ClusterReconciler Reconciler => _app.Services.GetRequiredService<ClusterReconciler>();

    public StoreWriter Writer => _app.Services.GetRequiredService<StoreWriter>();

    /// <param name="contentRoot">An empty folder, so that no appsettings.json is picked up by chance: the settings
    /// below are all there is. Not the data folder, whose every write the content root's file watcher would see.</param>
    /// <param name="accessKey">The admin key that signs the requests; null runs the service in insecure development mode.</param>
    public static async Task<ServiceHost> StartAsync(string contentRoot, string dataDirectory, bool reconciler, AccessKey? accessKey, CancellationToken ct)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            EnvironmentName = "Production",
            ContentRootPath = contentRoot,
        });
        builder.Configuration.AddInMemoryCollection(Settings(dataDirectory, reconciler, accessKey));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddRayfleet();

        var app = builder.Build();
        app.UseRayfleet();
        await app.StartAsync(ct);

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var host = new ServiceHost(app, new Uri(address), Path.Combine(dataDirectory, "rayfleet.db"));
        try
        {
            await host.WaitReadyAsync(TimeSpan.FromSeconds(30), ct);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>The id of the workspace named <c>default</c> that the service creates on an empty store.</summary>
    public Task<string> DefaultWorkspaceAsync(HttpClient http, CancellationToken ct) => DefaultWorkspaceAsync(http, BaseAddress, ct);

    internal static async Task<string> DefaultWorkspaceAsync(HttpClient http, Uri baseAddress, CancellationToken ct)
    {
        var list = await http.GetFromJsonAsync<WorkspaceList>(new Uri(baseAddress, "/api/v1/workspaces"), ct)
                   ?? throw new InvalidOperationException("GET /api/v1/workspaces answered an empty body.");
        return list.Workspaces.Single(w => w.WorkspaceName == "default").WorkspaceId;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        SqliteConnection.ClearAllPools();
    }

    /// <summary>Everything the service is configured with; <see cref="ServiceProcess"/> passes the same.</summary>
    internal static Dictionary<string, string?> Settings(string dataDirectory, bool reconciler, AccessKey? accessKey)
    {
        var settings = BaseSettings(dataDirectory, reconciler);
        if (accessKey is null)
        {
            // Unsigned callers; the service accepts that on loopback only, which is where it listens.
            settings["Rayfleet:Security:InsecureDevelopmentMode"] = "true";
        }
        else
        {
            settings["Rayfleet:Security:BootstrapAccessKeyId"] = accessKey.Id;
            settings["Rayfleet:Security:BootstrapAccessKeySecret"] = accessKey.Secret;
            // The per-key rate limit would otherwise be what is measured.
            settings["Rayfleet:Security:RateLimit:RequestsPerSecond"] = "1000000";
            settings["Rayfleet:Security:RateLimit:BurstSize"] = "1000000";
        }
        return settings;
    }

    private static Dictionary<string, string?> BaseSettings(string dataDirectory, bool reconciler) => new()
    {
        ["Urls"] = "http://127.0.0.1:0",
        ["AllowedHosts"] = "*",
        ["Logging:LogLevel:Default"] = "Warning",
        // The throwaway key ring of a temp folder is expected to be unencrypted; say nothing about it.
        ["Logging:LogLevel:Microsoft.AspNetCore.DataProtection"] = "Error",
        ["Rayfleet:DataDirectory"] = dataDirectory,
        ["Rayfleet:DefaultProvider"] = "simulated",
        ["Rayfleet:RegionId"] = "local",
        // Large enough that every cluster is admitted: the benchmark measures the store and the API, not queueing.
        ["Rayfleet:DefaultQueueCu"] = "100000000",
        ["Rayfleet:Simulated:NodeStartDelay"] = "00:00:01",
        ["Rayfleet:Simulated:NodeStopDelay"] = "00:00:01",
        ["Rayfleet:Reconciler:Enabled"] = reconciler ? "true" : "false",
        ["Rayfleet:ReleaseVersions:0:DisplayReleaseVersion"] = "ray-1.2.0 (Ray 2.55.1, Python 3.12)",
        ["Rayfleet:ReleaseVersions:0:RayVersion"] = "2.55.1",
        ["Rayfleet:ReleaseVersions:0:PythonVersion"] = "3.12",
        ["Rayfleet:ReleaseVersions:0:Image"] = "rayproject/ray:2.55.1-py312",
        ["Rayfleet:ReleaseVersions:0:IsDefault"] = "true",
    };

    private Task WaitReadyAsync(TimeSpan timeout, CancellationToken ct) => WaitReadyAsync(BaseAddress, timeout, ct);

    internal static async Task WaitReadyAsync(Uri baseAddress, TimeSpan timeout, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative), ct);
                if (response.StatusCode == HttpStatusCode.OK) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            await Task.Delay(100, ct);
        }
        throw new TimeoutException($"The service at {baseAddress} was not ready within {timeout.TotalSeconds:0} s: {last}");
    }

    private sealed record WorkspaceList([property: JsonPropertyName("workspaces")] List<WorkspaceItem> Workspaces);

    private sealed record WorkspaceItem(
        [property: JsonPropertyName("workspaceId")] string WorkspaceId,
        [property: JsonPropertyName("workspaceName")] string WorkspaceName);
}
