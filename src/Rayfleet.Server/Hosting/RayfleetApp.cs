using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Api;
using Rayfleet.Server.Auth;
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

    public static WebApplicationBuilder AddRayfleet(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RayfleetOptions>()
            .Bind(builder.Configuration.GetSection(RayfleetOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RayfleetOptions>, RayfleetOptionsValidator>();
        services.AddSingleton<IValidateOptions<RayfleetOptions>, LocalProviderOptionsValidator>();

        var dataDirectory = Path.GetFullPath(builder.Configuration[$"{RayfleetOptions.Section}:DataDirectory"] ?? "./data");
        Directory.CreateDirectory(dataDirectory);

        // Interceptors registered in the container join the store's own (tests use them for fault injection).
        services.AddDbContext<RayfleetDbContext>((sp, o) => o
            .UseSqlite($"Data Source={Path.Combine(dataDirectory, "rayfleet.db")};Cache=Private;Pooling=True")
            .AddInterceptors(sp.GetServices<Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor>().Prepend(new SqlitePragmas())));

        services.AddDataProtection()
            .SetApplicationName("Rayfleet")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDirectory, "keys")));

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<Catalogs>();
        services.AddSingleton<QueueAdmissionService>();
        services.AddSingleton<IMachineCapacity, MachineCapacity>();
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
