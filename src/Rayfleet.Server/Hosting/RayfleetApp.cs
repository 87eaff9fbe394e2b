using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Api;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using Rayfleet.Server.Providers.Local;
using Rayfleet.Server.Providers.Simulated;
using Rayfleet.Server.Reconciler;
using Scalar.AspNetCore;

namespace Rayfleet.Server.Hosting;

/// <summary>Service registration and the request pipeline, shared by Program.cs and the benchmark host.</summary>
public static class RayfleetApp
{
    public const long MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// The builder's options for the service's own entry point. The content root, where appsettings.json with the
    /// shipped defaults (release versions, GPU types) is read from, is the folder of the binary, not the working
    /// directory: the service must start the same from a systemd unit, a tarball or <c>dotnet run</c>. A content root
    /// given explicitly (<c>--contentRoot</c>, <c>ASPNETCORE_CONTENTROOT</c>; the test host passes one) is kept.
    /// </summary>
    public static WebApplicationOptions BuilderOptions(string[] args)
    {
        var given = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddCommandLine(args)
            .Build()[WebHostDefaults.ContentRootKey];
        return new WebApplicationOptions { Args = args, ContentRootPath = string.IsNullOrEmpty(given) ? AppContext.BaseDirectory : null };
    }

    public static WebApplicationBuilder AddRayfleet(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var dataDirectory = DataDirectory(builder.Configuration);
        services.AddOptions<RayfleetOptions>()
            .Bind(builder.Configuration.GetSection(RayfleetOptions.Section))
            // One resolution of the folder for everything that uses it, taken from the working directory at start.
            .PostConfigure(o => o.DataDirectory = dataDirectory)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RayfleetOptions>, RayfleetOptionsAnnotationsValidator>();
        services.AddSingleton<IValidateOptions<RayfleetOptions>, RayfleetOptionsValidator>();
        services.AddSingleton<IValidateOptions<RayfleetOptions>, LocalProviderOptionsValidator>();

        // Contexts are leased from a pool: building one per request (its EF service scope) cost more than most of its
        // queries. Interceptors registered in the container join the store's own (tests use them for fault injection).
        services.AddDbContextPool<RayfleetDbContext>((sp, o) => o
            .UseSqlite($"Data Source={Path.Combine(dataDirectory, "rayfleet.db")};Cache=Private;Pooling=True")
            // Applying the migrations to a new store would warn that EF's own SQLite table rebuilds run beside SQL and
            // switch foreign keys off outside their transaction: true, reviewed when each was written, and nothing a
            // user can act on at first start. Kept in the debug log.
            .ConfigureWarnings(w => w.Log(
                (Microsoft.EntityFrameworkCore.Diagnostics.SqliteEventId.TableRebuildPendingWarning, LogLevel.Debug),
                (Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.NonTransactionalMigrationOperationWarning, LogLevel.Debug)))
            .AddInterceptors(sp.GetServices<Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor>()
                .Prepend(sp.GetRequiredService<WorkspaceCacheInvalidation>()).Prepend(new SqlitePragmas())));
        // Workspace metadata read once, not per request; every save and commit of the store evicts what it changed.
        services.AddSingleton<WorkspaceCache>();
        services.AddSingleton<WorkspaceCacheInvalidation>();

        // One writer for every change of the service: group commit (Persistence/StoreWriter).
        services.AddSingleton<StoreWriter>();

        services.AddDataProtection()
            .SetApplicationName("Rayfleet")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "keys")));

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<Catalogs>();
        services.AddSingleton<QueueAdmissionService>();
        services.AddSingleton<IMachineCapacity, MachineCapacity>();
        // Providers get their own section of the options and the data folder, nothing else of the service's settings.
        services.AddSingleton(new DataFolder(dataDirectory));
        services.AddSingleton(sp => Options.Create(sp.GetRequiredService<IOptions<RayfleetOptions>>().Value.Local));
        services.AddSingleton(sp => Options.Create(sp.GetRequiredService<IOptions<RayfleetOptions>>().Value.Simulated));
        services.AddRayJobClient();
        services.AddSingleton<IClusterProvider, LocalProvider>();
        services.AddSingleton<IClusterProvider, SimulatedProvider>();
        // The Kubernetes provider only when an API server is configured: the service must start without a cluster.
        var configured = new HashSet<string>(StringComparer.Ordinal) { ProviderNames.Local, ProviderNames.Simulated };
        if (KubernetesProviderOptions.IsConfiguredIn(builder.Configuration))
        {
            services.AddKubernetesProvider(builder.Configuration);
            configured.Add(ProviderNames.Kubernetes);
        }
        services.AddSingleton(new ConfiguredProviders(configured));
        services.AddSingleton<IProviderRegistry, ProviderRegistry>();
        services.AddScoped<ClusterReconcilePass>();
        services.AddScoped<JobReconcilePass>();
        services.AddScoped<IJobDirectory, JobTable>();
        services.AddSingleton<IJobLogWriter>(sp => sp.GetRequiredService<LogStore>());
        services.AddSingleton<JobViews>();
        services.AddScoped<ProviderRequestBuilder>();
        services.AddScoped<MutationRunner>();
        // The runner's per-clientToken gates: one per process, shared by every request scope.
        services.AddSingleton<KeyedGates>();

        // Order matters: hosted services start in registration order, and the store must be migrated first.
        services.AddSingleton<DatabaseInitializer>();
        services.AddHostedService(sp => sp.GetRequiredService<DatabaseInitializer>());
        services.AddRayfleetSecurity(builder.Configuration);
        services.AddSingleton<ClusterReconciler>();
        services.AddSingleton<IReconcileTrigger>(sp => sp.GetRequiredService<ClusterReconciler>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterReconciler>());
        services.AddRayfleetLogs();

        // Answers are written from the source-generated contracts; the reflection resolver stays behind them for what
        // only the API description asks about (a test checks that every contract is generated).
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, WireJson.Default));
        services.AddHealthChecks()
            .AddCheck<ReadinessCheck>("store-and-reconciler", tags: ["ready"]);
        services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "Rayfleet: EMR Serverless Spark Ray cluster API (2023-08-08)";
            doc.Info.Description = "Wire-compatible with Alibaba Cloud EMR Serverless Spark's Ray cluster API, plus Rayfleet extensions.";
            return Task.CompletedTask;
        }));
        services.AddProblemDetails();

        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = MaxBodyBytes);
        return builder;
    }

    /// <summary>
    /// Runs the options validation that ValidateOnStart would run when the host starts, so that a broken setting is
    /// thrown here, before the host logs it with a stack trace as a failed start.
    /// </summary>
    public static WebApplication ValidateRayfleetConfiguration(this WebApplication app)
    {
        app.Services.GetService<IStartupValidator>()?.Validate();
        return app;
    }

    /// <summary>The data folder, absolute and created; a folder that cannot be made is a configuration error naming the setting.</summary>
    private static string DataDirectory(IConfiguration configuration)
    {
        const string setting = $"{RayfleetOptions.Section}:{nameof(RayfleetOptions.DataDirectory)}";
        var configured = configuration[setting];
        var path = configured ?? RayfleetOptions.DefaultDataDirectory();
        if (string.IsNullOrWhiteSpace(path))
            throw new RayfleetConfigurationException(setting, configured is null
                ? "not set, and this user has no home folder for the default (~/.local/share/rayfleet); set it to a folder the service may write."
                : "must not be empty.");
        try
        {
            path = Path.GetFullPath(path);
            Directory.CreateDirectory(path);
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new RayfleetConfigurationException(setting, $"cannot create '{path}': {e.Message}");
        }
    }

    public static WebApplication UseRayfleet(this WebApplication app)
    {
        app.UseAcsErrors();
        app.UseUnknownApiErrors();
        app.UseRayfleetSecurity();

        app.MapHealthChecks("/healthz", new() { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new() { Predicate = c => c.Tags.Contains("ready") });
        // One document, named in the route: an unknown name is then an unknown API, answered in the error body.
        app.MapOpenApi("/openapi/v1.json");
        app.MapScalarApiReference("/docs", o => o.WithTitle("Rayfleet API").WithOpenApiRoutePattern("/openapi/{documentName}.json"));

        app.MapWorkspaces();
        app.MapQueues();
        app.MapRayClusters();
        app.MapRayJobs();
        app.MapRayLogs();
        app.MapNetworkServices();
        app.MapVolumes();
        app.MapCatalogs();
        app.MapMembers();
        app.MapAdmin();
        return app;
    }
}

public sealed class ReadinessCheck(DatabaseInitializer initializer, ClusterReconciler reconciler, IServiceScopeFactory scopes) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!initializer.Ready) return HealthCheckResult.Unhealthy("The store is not migrated yet.");
        if (!reconciler.Started) return HealthCheckResult.Unhealthy("The reconciler has not started.");
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        return await db.Database.CanConnectAsync(cancellationToken)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The store cannot be reached.");
    }
}
