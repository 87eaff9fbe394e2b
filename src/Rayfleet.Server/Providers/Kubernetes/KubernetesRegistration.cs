using k8s;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Kubernetes;

public static class KubernetesRegistration
{
    /// <summary>Registers the provider; called only when <see cref="KubernetesProviderOptions.IsConfiguredIn"/> holds.</summary>
    public static IServiceCollection AddKubernetesProvider(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KubernetesProviderOptions>()
            .Bind(configuration.GetSection(KubernetesProviderOptions.Section))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<KubernetesProviderOptions>, KubernetesProviderOptionsValidator>();
        services.AddSingleton<IKubernetes>(sp => new k8s.Kubernetes(ClientConfiguration(sp.GetRequiredService<IOptions<KubernetesProviderOptions>>().Value)));
        services.AddSingleton<KubernetesProvider>();
        services.AddSingleton<IClusterProvider>(sp => sp.GetRequiredService<KubernetesProvider>());
        // KubeRay's autoscaler sidecar shares the head pod: queue demand counts what the manifest gives it.
        services.AddSingleton(sp => new ProviderAutoscaler(Name, sp.GetRequiredService<IOptions<KubernetesProviderOptions>>().Value.AutoscalerFootprint));
        return services;
    }

    public static KubernetesClientConfiguration ClientConfiguration(KubernetesProviderOptions options)
    {
        var config = options switch
        {
            { InCluster: true } => KubernetesClientConfiguration.InClusterConfig(),
            { KubeconfigPath: { Length: > 0 } path } => KubernetesClientConfiguration.BuildConfigFromConfigFile(path, options.KubeconfigContext),
            _ => new KubernetesClientConfiguration { Host = options.Host },
        };
        // Watches stay open for minutes; every other call has its own time limit (RequestTimeout).
        config.HttpClientTimeout = Timeout.InfiniteTimeSpan;
        return config;
    }

    public static bool IsConfigured(IConfiguration configuration) => KubernetesProviderOptions.IsConfiguredIn(configuration);

    public const string Name = ProviderNames.Kubernetes;
}
