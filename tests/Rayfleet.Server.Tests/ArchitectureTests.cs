using System.Reflection;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Tests;

/// <summary>The dependency rules of the house style, held by reading the assemblies' types.</summary>
public sealed class ArchitectureTests
{
    private static readonly Assembly Server = typeof(RayfleetDbContext).Assembly;
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> Dependencies(Type type) =>
        type.GetFields(All).Select(f => f.FieldType)
            .Concat(type.GetConstructors(All).SelectMany(c => c.GetParameters()).Select(p => p.ParameterType))
            .Concat(type.GetMethods(All).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
            .SelectMany(t => t.IsGenericType ? t.GetGenericArguments().Append(t) : [t]);

    private static IEnumerable<Type> TypesIn(string ns) =>
        Server.GetTypes().Where(t => t.Namespace is not null && t.Namespace.StartsWith(ns, StringComparison.Ordinal));

    [Fact]
    public void The_api_never_calls_a_provider()
    {
        var offenders = TypesIn("Rayfleet.Server.Api")
            .SelectMany(t => Dependencies(t).Where(d => d.Namespace?.StartsWith("Rayfleet.Server.Providers", StringComparison.Ordinal) == true).Select(d => $"{t.Name} -> {d.Name}"))
            .ToList();
        Assert.Empty(offenders);
        Assert.NotEmpty(TypesIn("Rayfleet.Server.Api"));
    }

    [Fact]
    public void Providers_never_touch_persistence()
    {
        var offenders = TypesIn("Rayfleet.Server.Providers")
            .SelectMany(t => Dependencies(t).Where(d => d.Namespace?.StartsWith("Rayfleet.Server.Persistence", StringComparison.Ordinal) == true
                                                        || d.Namespace?.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal) == true)
                .Select(d => $"{t.Name} -> {d.Name}"))
            .ToList();
        Assert.Empty(offenders);
        Assert.Contains(TypesIn("Rayfleet.Server.Providers"), t => typeof(IClusterProvider).IsAssignableFrom(t) && !t.IsInterface);
    }

    [Fact]
    public void Core_references_no_aspnet_ef_or_kubernetes()
    {
        var references = typeof(Rayfleet.Core.Clusters.ClusterSpec).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, n => n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
                                               || n.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal)
                                               || n.StartsWith("KubernetesClient", StringComparison.Ordinal)
                                               || n.StartsWith("Rayfleet.Server", StringComparison.Ordinal));
    }
}
