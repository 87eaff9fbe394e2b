using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Reconciler;

namespace Rayfleet.Server.Tests.Support;

/// <summary>
/// The real service in process, on a fresh data folder (or a given one, to restart on it), with a fake clock (or the
/// system clock, for tests of real processes, which run in real time). The default provider is the simulated one.
/// </summary>
public sealed class RayfleetHost : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;
    private readonly bool _ownsDirectory;

    private readonly Action<IServiceCollection>? _services;
    private readonly bool _systemClock;

    public RayfleetHost(
        string? dataDirectory = null, FakeTimeProvider? clock = null, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null, bool systemClock = false, bool kestrel = false)
    {
        _services = services;
        _systemClock = systemClock;
        // A real socket on loopback, for tests that need the raw request target and headers exactly as sent.
        if (kestrel) UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        _ownsDirectory = dataDirectory is null;
        DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(DataDirectory);
        Clock = clock ?? new FakeTimeProvider(DateTimeOffset.UtcNow);
        _settings = new Dictionary<string, string?>
        {
            ["Rayfleet:DataDirectory"] = DataDirectory,
            ["Rayfleet:DefaultProvider"] = "simulated",
            ["Rayfleet:Reconciler:ResyncInterval"] = "00:00:30",
            ["Rayfleet:Reconciler:MaxParallelism"] = "4",
            ["Rayfleet:Simulated:NodeStartDelay"] = "00:00:02",
            ["Rayfleet:Simulated:NodeStopDelay"] = "00:00:01",
            ["Rayfleet:DefaultQueueCu"] = "64",
            ["Rayfleet:DefaultQueueGpu"] = "4",
            ["Rayfleet:Security:BootstrapAccessKeyId"] = AdminKey.Id,
            ["Rayfleet:Security:BootstrapAccessKeySecret"] = AdminKey.Secret,
        };
        if (settings is not null)
            foreach (var (k, v) in settings) _settings[k] = v;
    }

    /// <summary>The admin key the host installs at start; every client of <see cref="Api()"/> signs with it.</summary>
    public static readonly AccessKey AdminKey = new("RFAKTESTADMIN0000000000", "test-admin-secret-0123456789abcd");

    public string DataDirectory { get; }
    /// <summary>The service's clock, unless it runs on the system clock (then advancing this one changes nothing).</summary>
    public FakeTimeProvider Clock { get; }

    public ClusterReconciler Reconciler => Services.GetRequiredService<ClusterReconciler>();

    /// <summary>The API's routes (under <c>/api/</c>) from the service's endpoint table, the server started first.</summary>
    public IReadOnlyList<Microsoft.AspNetCore.Routing.RouteEndpoint> ApiEndpoints()
    {
        this.StartServerIfNeeded();
        return Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.StartsWith("/api/", StringComparison.Ordinal)).ToList();
    }

    public ApiClient Api() => new(CreateClient(), this);

    /// <summary>A client signing with <paramref name="key"/> (the admin key by default).</summary>
    public ApiClient Api(AccessKey key) => new(SignedClient(key), this);

    /// <summary>Hides the factory's CreateClient: clients of the test host sign their requests unless asked not to.</summary>
    public new HttpClient CreateClient() => SignedClient(AdminKey);

    public HttpClient SignedClient(AccessKey key) => CreateDefaultClient(new Acs3SigningHandler(key, _systemClock ? TimeProvider.System : Clock));

    public HttpClient UnsignedClient() => CreateDefaultClient();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in _settings) builder.UseSetting(k, v);
        builder.UseEnvironment("Testing");
        builder.ConfigureServices(services =>
        {
            if (!_systemClock)
            {
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(Clock);
            }
            _services?.Invoke(services);
        });
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        SqliteConnection.ClearAllPools();
        if (disposing && _ownsDirectory) TryDelete(DataDirectory);
    }

    public static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
