using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
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
            failures.Add("Rayfleet:ReleaseVersions: must list at least one release version.");
        if (options.ReleaseVersions.Count(r => r.IsDefault) > 1)
            failures.Add("Rayfleet:ReleaseVersions: may mark at most one entry IsDefault.");
        foreach (var dup in options.ReleaseVersions.GroupBy(r => r.DisplayReleaseVersion).Where(g => g.Count() > 1))
            failures.Add($"Rayfleet:ReleaseVersions: lists '{dup.Key}' twice.");
        for (var i = 0; i < options.GpuTypes.Count; i++)
        {
            var gpu = options.GpuTypes[i];
            if (Quantity.ParseCpuMillis(gpu.Cpu) is null) failures.Add($"Rayfleet:GpuTypes:{i}:Cpu: '{gpu.Cpu}' of '{gpu.InstanceType}' is not a CPU amount.");
            if (Quantity.ParseMemoryBytes(gpu.Memory) is null) failures.Add($"Rayfleet:GpuTypes:{i}:Memory: '{gpu.Memory}' of '{gpu.InstanceType}' is not a memory quantity.");
        }
        if (!ProviderNames.Known.Contains(options.DefaultProvider))
            failures.Add($"Rayfleet:DefaultProvider: '{options.DefaultProvider}' is not one of: {string.Join(", ", ProviderNames.Known)}.");
        else if (!configured.Names.Contains(options.DefaultProvider))
            failures.Add($"Rayfleet:DefaultProvider: '{options.DefaultProvider}' is not configured: {ConfiguredProviders.HowToConfigure(options.DefaultProvider)}");
        if (options.Reconciler.ResyncInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Reconciler:ResyncInterval: must be positive.");
        if (options.Reconciler.PollInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Reconciler:PollInterval: must be positive.");
        if (options.Reconciler.JobPollInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Reconciler:JobPollInterval: must be positive.");
        if (options.Reconciler.BackoffBase <= TimeSpan.Zero || options.Reconciler.BackoffMax < options.Reconciler.BackoffBase)
            failures.Add("Rayfleet:Reconciler:BackoffBase: must be positive and at most Rayfleet:Reconciler:BackoffMax.");
        if (options.Simulated.NodeStartDelay < TimeSpan.Zero || options.Simulated.NodeStopDelay < TimeSpan.Zero
            || options.Simulated.JobPendingTime < TimeSpan.Zero || options.Simulated.JobRunTime < TimeSpan.Zero)
            failures.Add("Rayfleet:Simulated:NodeStartDelay, NodeStopDelay, JobPendingTime, JobRunTime: must not be negative.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// The data annotations of <c>Rayfleet</c> and of every section and list entry under it, each failure naming the
/// setting as it is written in configuration (<c>Rayfleet:Reconciler:MaxParallelism</c>,
/// <c>Rayfleet:ReleaseVersions:1:Image</c>). ValidateDataAnnotations looks at the top level only, and names members
/// without their section.
/// </summary>
public sealed class RayfleetOptionsAnnotationsValidator : IValidateOptions<RayfleetOptions>
{
    public ValidateOptionsResult Validate(string? name, RayfleetOptions options)
    {
        var failures = new List<string>();
        Collect(options, RayfleetOptions.Section, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Collect(object options, string path, List<string> failures)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        foreach (var result in results)
            failures.Add($"{path}:{string.Join(", ", result.MemberNames)}: {result.ErrorMessage}");

        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetValue(options) is not { } value) continue;
            if (IsSection(value.GetType())) Collect(value, $"{path}:{property.Name}", failures);
            else if (value is IList list)
                for (var i = 0; i < list.Count; i++)
                    if (list[i] is { } item && IsSection(item.GetType())) Collect(item, $"{path}:{property.Name}:{i}", failures);
        }
    }

    /// <summary>Our own option classes; strings, numbers, time spans and dictionaries are values, not sections.</summary>
    private static bool IsSection(Type type) =>
        type is { IsClass: true, Namespace: { } ns } && ns.StartsWith("Rayfleet.", StringComparison.Ordinal) && !typeof(IEnumerable).IsAssignableFrom(type);
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
