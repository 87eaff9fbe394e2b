using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>deploy/: every manifest parses into the Kubernetes models (strictly: an unknown field fails), and RBAC grants no more than the provider uses.</summary>
[Collection(KubernetesCollection.Name)]
public sealed class DeployManifestTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "deploy");

    private static IEnumerable<string> ManifestFiles() =>
        Directory.EnumerateFiles(Folder, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml").Order(StringComparer.Ordinal);

    private static List<object> Objects() =>
        [.. ManifestFiles().SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f), strict: true))];

    /// <summary>What the provider calls, per resource; RBAC must grant exactly this.</summary>
    private static readonly Dictionary<(string Group, string Resource), string[]> Needed = new()
    {
        [("ray.io", "rayclusters")] = ["create", "delete", "get", "list", "patch", "watch"],
        [("ray.io", "rayjobs")] = ["create", "delete", "get", "list", "patch", "watch"],
        [("", "pods")] = ["list", "watch"],
        [("", "pods/log")] = ["get"],
        [("", "services/proxy")] = ["create", "get"],
        [("", "events")] = ["list"],
        [("", "namespaces")] = ["create", "get"],
        [("", "secrets")] = ["create", "delete", "list", "patch"],
    };

    [Fact]
    public void Every_manifest_parses_strictly_into_the_Kubernetes_models()
    {
        Assert.NotEmpty(ManifestFiles());
        var objects = Objects();
        Assert.Equal(
            ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace", "PersistentVolumeClaim", "Service", "ServiceAccount"],
            objects.Select(o => ((IKubernetesObject)o).Kind).Order(StringComparer.Ordinal));
        Assert.All(objects, o => Assert.False(string.IsNullOrEmpty(((IMetadata<V1ObjectMeta>)o).Metadata?.Name)));

        // The check can fail: a misspelt field is refused.
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n", strict: true));

        var kustomization = new YamlStream();
        kustomization.Load(new StringReader(File.ReadAllText(Path.Combine(Folder, "kustomization.yaml"))));
        var listed = ((YamlSequenceNode)((YamlMappingNode)kustomization.Documents[0].RootNode)["resources"]).Children.Select(n => n.ToString()).Order(StringComparer.Ordinal);
        Assert.Equal(ManifestFiles().Select(Path.GetFileName), listed);
    }

    [Fact]
    public void RBAC_grants_only_what_the_provider_uses_without_wildcards()
    {
        var objects = Objects();
        var role = objects.OfType<V1ClusterRole>().Single();
        var granted = new Dictionary<(string, string), string[]>();
        foreach (var rule in role.Rules)
        {
            Assert.Null(rule.NonResourceURLs);
            Assert.Null(rule.ResourceNames);
            Assert.DoesNotContain("*", rule.ApiGroups);
            Assert.DoesNotContain("*", rule.Resources);
            Assert.DoesNotContain("*", rule.Verbs);
            foreach (var group in rule.ApiGroups)
                foreach (var resource in rule.Resources)
                    granted[(group, resource)] = [.. rule.Verbs.Concat(granted.GetValueOrDefault((group, resource)) ?? []).Distinct().Order(StringComparer.Ordinal)];
        }
        Assert.Equal(Needed.Keys.Order(), granted.Keys.Order());
        foreach (var (key, verbs) in Needed) Assert.Equal(verbs, granted[key]);

        var account = objects.OfType<V1ServiceAccount>().Single();
        var binding = objects.OfType<V1ClusterRoleBinding>().Single();
        Assert.Equal(("ClusterRole", role.Metadata.Name), (binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", account.Metadata.Name, account.Metadata.NamespaceProperty), (subject.Kind, subject.Name, subject.NamespaceProperty));
        Assert.Equal(account.Metadata.Name, objects.OfType<V1Deployment>().Single().Spec.Template.Spec.ServiceAccountName);
    }

    [Fact]
    public void The_deployment_keeps_its_data_folder_on_the_claim_and_runs_in_cluster()
    {
        var objects = Objects();
        var deployment = objects.OfType<V1Deployment>().Single();
        var claim = objects.OfType<V1PersistentVolumeClaim>().Single();
        var config = objects.OfType<V1ConfigMap>().Single();
        var service = objects.OfType<V1Service>().Single();
        var pod = deployment.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);

        Assert.Equal(1, deployment.Spec.Replicas);
        Assert.Equal("Recreate", deployment.Spec.Strategy.Type); // one SQLite writer, also during a rollout
        var dataVolume = pod.Volumes.Single(v => v.PersistentVolumeClaim?.ClaimName == claim.Metadata.Name);
        var dataMount = container.VolumeMounts.Single(m => m.Name == dataVolume.Name);

        var settings = JsonNode.Parse(config.Data["appsettings.Production.json"])!;
        Assert.Equal(dataMount.MountPath, settings["Rayfleet"]!["DataDirectory"]!.GetValue<string>());
        Assert.Equal("kubernetes", settings["Rayfleet"]!["DefaultProvider"]!.GetValue<string>());
        Assert.True(settings["Rayfleet"]!["Kubernetes"]!["InCluster"]!.GetValue<bool>());
        var configVolume = pod.Volumes.Single(v => v.ConfigMap?.Name == config.Metadata.Name);
        Assert.Equal("/app/appsettings.Production.json", container.VolumeMounts.Single(m => m.Name == configVolume.Name).MountPath);

        Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/healthz", container.LivenessProbe.HttpGet.Path);
        Assert.EndsWith(":5080", settings["Urls"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(5080, container.Ports.Single().ContainerPort);
        Assert.Equal(deployment.Spec.Selector.MatchLabels, service.Spec.Selector);
        Assert.All(objects.Where(o => o is not V1Namespace and not V1ClusterRole and not V1ClusterRoleBinding),
            o => Assert.Equal(objects.OfType<V1Namespace>().Single().Metadata.Name, ((IMetadata<V1ObjectMeta>)o).Metadata.NamespaceProperty));
        _ = JsonSerializer.Serialize(settings);
    }
}
