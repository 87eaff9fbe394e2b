using Microsoft.Extensions.Options;
using Rayfleet.Core.Capacity;

namespace Rayfleet.Server.Hosting;

/// <summary>Rules across options that data annotations cannot express; a broken config stops the process at start.</summary>
public sealed class RayfleetOptionsValidator(ConfiguredProviders configured) : IValidateOptions<RayfleetOptions>
{
    public ValidateOptionsResult Validate(string? name, RayfleetOptions options)
    {
        var failures = new List<string>();
        if (options.ReleaseVersions.Count == 0)
            failures.Add("Rayfleet:ReleaseVersions must list at least one release version.");
        if (options.ReleaseVersions.Count(r => r.IsDefault) > 1)
            failures.Add("Rayfleet:ReleaseVersions may mark at most one entry IsDefault.");
        foreach (var dup in options.ReleaseVersions.GroupBy(r => r.DisplayReleaseVersion).Where(g => g.Count() > 1))
            failures.Add($"Rayfleet:ReleaseVersions lists '{dup.Key}' twice.");
        foreach (var release in options.ReleaseVersions.Where(r => string.IsNullOrWhiteSpace(r.DisplayReleaseVersion) || string.IsNullOrWhiteSpace(r.Image)))
            failures.Add($"Rayfleet:ReleaseVersions entry '{release.DisplayReleaseVersion}' needs a DisplayReleaseVersion and an Image.");
        foreach (var gpu in options.GpuTypes)
        {
            if (Quantity.ParseCpuMillis(gpu.Cpu) is null) failures.Add($"Rayfleet:GpuTypes '{gpu.InstanceType}': Cpu '{gpu.Cpu}' is not a CPU amount.");
            if (Quantity.ParseMemoryBytes(gpu.Memory) is null) failures.Add($"Rayfleet:GpuTypes '{gpu.InstanceType}': Memory '{gpu.Memory}' is not a memory quantity.");
            if (gpu.GpuCount < 1) failures.Add($"Rayfleet:GpuTypes '{gpu.InstanceType}': GpuCount must be at least 1.");
        }
        if (!ProviderNames.Known.Contains(options.DefaultProvider))
            failures.Add($"Rayfleet:DefaultProvider '{options.DefaultProvider}' is not one of: {string.Join(", ", ProviderNames.Known)}.");
        else if (!configured.Names.Contains(options.DefaultProvider))
            failures.Add($"Rayfleet:DefaultProvider '{options.DefaultProvider}' is not configured: {ConfiguredProviders.HowToConfigure(options.DefaultProvider)}");
        if (options.Reconciler.ResyncInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Reconciler:ResyncInterval must be positive.");
        if (options.Reconciler.BackoffBase <= TimeSpan.Zero || options.Reconciler.BackoffMax < options.Reconciler.BackoffBase)
            failures.Add("Rayfleet:Reconciler:BackoffBase must be positive and at most BackoffMax.");
        if (options.Simulated.NodeStartDelay < TimeSpan.Zero || options.Simulated.NodeStopDelay < TimeSpan.Zero)
            failures.Add("Rayfleet:Simulated delays must not be negative.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

public static class ProviderNames
{
    public const string Simulated = "simulated";
    public const string Local = "local";
    public const string Kubernetes = "kubernetes";
    public static readonly IReadOnlySet<string> Known = new HashSet<string>(StringComparer.Ordinal) { Local, Simulated, Kubernetes };
}

/// <summary>The providers this service runs: a known provider may be left unconfigured (Kubernetes without a cluster).</summary>
public sealed record ConfiguredProviders(IReadOnlySet<string> Names)
{
    public static string HowToConfigure(string provider) => provider switch
    {
        ProviderNames.Kubernetes => "set Rayfleet:Kubernetes:InCluster, Rayfleet:Kubernetes:KubeconfigPath or Rayfleet:Kubernetes:Host.",
        _ => "it is not available in this build.",
    };
}
