namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// The Kubernetes tests run on their own: schema evaluation, fake API servers and watch streams take CPU that the
/// fake-clock tests elsewhere (backoff windows measured in simulated seconds) must not compete with on a 2-core machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KubernetesCollection
{
    public const string Name = "Kubernetes";
}
