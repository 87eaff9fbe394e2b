using System.Text.Json.Nodes;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

[Collection(KubernetesCollection.Name)]
public sealed class ManifestTests
{
    private static JsonObject Head(JsonObject m) => m["spec"]!["headGroupSpec"]!.AsObject();
    private static JsonObject HeadContainer(JsonObject m) => Head(m)["template"]!["spec"]!["containers"]![0]!.AsObject();
    private static JsonObject Group(JsonObject m, int i) => m["spec"]!["workerGroupSpecs"]![i]!.AsObject();
    private static JsonObject GroupContainer(JsonObject m, int i) => Group(m, i)["template"]!["spec"]!["containers"]![0]!.AsObject();

    [Theory]
    [MemberData(nameof(ManifestCases.Names), MemberType = typeof(ManifestCases))]
    public void Every_generated_manifest_validates_against_the_v1_CRD_schema_and_KubeRays_checks(string name)
    {
        var c = Named(name);
        foreach (var suspend in new bool?[] { false, true, null })
        {
            var manifest = Build(c, suspend);
            Assert.Equal([], CrdSchema.RayClusterV1.Validate(manifest));
            Assert.Equal([], KubeRayChecks.Check(manifest));
        }
    }

    [Fact]
    public void The_CRD_copy_is_KubeRays_own_and_its_schema_converts()
    {
        // The copy travels with the repository; where the shared reference sits beside the checkout, they must agree.
        var repository = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var shared = Path.Combine(repository, "..", "shared", "kuberay", "ray.io_rayclusters.yaml");
        if (File.Exists(shared)) Assert.Equal(File.ReadAllText(shared), File.ReadAllText(CrdSchema.CrdPath));
        var properties = CrdSchema.RayClusterV1.JsonSchemaDocument["properties"]!["spec"]!["properties"]!.AsObject();
        Assert.Contains("workerGroupSpecs", properties.Select(p => p.Key));
        Assert.False(CrdSchema.RayClusterV1.JsonSchemaDocument["properties"]!["spec"]!["additionalProperties"]!.GetValue<bool>());
    }

    [Fact]
    public void The_schema_test_can_fail_deliberately_broken_manifests_are_rejected()
    {
        var good = Build(Named("two worker groups, mixed case and millicores"));
        Assert.Empty(CrdSchema.RayClusterV1.Validate(good));

        var cases = new (string What, Action<JsonObject> Break)[]
        {
            ("replicas as text", m => Group(m, 0)["replicas"] = "two"),
            ("unknown field in the spec", m => m["spec"]!["replicaCount"] = 3),
            ("unknown field in a container", m => HeadContainer(m)["cpus"] = "2"),
            ("upscalingMode not in the enum", m => m["spec"]!["autoscalerOptions"] = new JsonObject { ["upscalingMode"] = "Fast" }),
            ("headGroupSpec missing", m => m["spec"]!.AsObject().Remove("headGroupSpec")),
            ("template missing from a group", m => Group(m, 0).Remove("template")),
            ("a CPU quantity that is no quantity", m => HeadContainer(m)["resources"]!["limits"]!["cpu"] = "two cores"),
            ("replicas beyond int32", m => Group(m, 0)["replicas"] = 3_000_000_000L),
            ("suspend as text", m => m["spec"]!["suspend"] = "yes"),
            ("two container ports of one number (a list-map key)", m => HeadContainer(m)["ports"]!.AsArray().Add(new JsonObject { ["name"] = "again", ["containerPort"] = 8265, ["protocol"] = "TCP" })),
            ("a container without a name", m => HeadContainer(m).Remove("name")),
        };
        foreach (var (what, breakIt) in cases)
        {
            var broken = good.DeepClone().AsObject();
            breakIt(broken);
            Assert.True(CrdSchema.RayClusterV1.Validate(broken).Count > 0, $"'{what}' should fail the schema");
        }
    }

    [Fact]
    public void KubeRays_reconcile_time_checks_catch_what_the_schema_does_not()
    {
        var good = Build(Named("two worker groups, mixed case and millicores"));
        var cases = new (string What, Action<JsonObject> Break, string Expect)[]
        {
            ("a name over 53 characters", m => m["metadata"]!["name"] = "ray-" + new string('a', 50), "53"),
            ("a name that is no DNS-1035 label", m => m["metadata"]!["name"] = "1ray", "DNS-1035"),
            ("duplicate group names", m => Group(m, 1)["groupName"] = Group(m, 0)["groupName"]!.GetValue<string>(), "used by another group"),
            ("min above max", m => { Group(m, 0)["minReplicas"] = 5; Group(m, 0)["maxReplicas"] = 2; }, "greater than maxReplicas"),
            ("no head container", m => Head(m)["template"]!["spec"]!["containers"] = new JsonArray(), "at least one container"),
            ("autoscaler v2 env without autoscaling", m => HeadContainer(m)["env"] = new JsonArray(new JsonObject { ["name"] = "RAY_enable_autoscaler_v2", ["value"] = "1" }), "RAY_enable_autoscaler_v2"),
            ("group idle timeout without autoscaler v2", m => Group(m, 0)["idleTimeoutSeconds"] = 30, "autoscaler v2"),
            ("redis address env without options", m => HeadContainer(m)["env"] = new JsonArray(new JsonObject { ["name"] = "RAY_REDIS_ADDRESS", ["value"] = "r:6379" }), "RAY_REDIS_ADDRESS"),
            ("an invalid label value", m => m["metadata"]!["labels"]!["rayfleet.io/queue"] = "no spaces please", "label value"),
        };
        foreach (var (what, breakIt, expect) in cases)
        {
            var broken = good.DeepClone().AsObject();
            breakIt(broken);
            var problems = KubeRayChecks.Check(broken);
            Assert.True(problems.Any(p => p.Contains(expect, StringComparison.Ordinal)), $"'{what}': expected a problem with '{expect}', got [{string.Join("; ", problems)}]");
        }

        var gft = Build(Named("GCS fault tolerance with a password"));
        HeadContainer(gft)["env"] = new JsonArray(new JsonObject { ["name"] = "REDIS_PASSWORD", ["value"] = "x" });
        Head(gft)["rayStartParams"]!["redis-password"] = "x";
        var gftProblems = KubeRayChecks.Check(gft);
        Assert.Contains(gftProblems, p => p.Contains("REDIS_PASSWORD in env", StringComparison.Ordinal));
        Assert.Contains(gftProblems, p => p.Contains("redis password in rayStartParams", StringComparison.Ordinal));
    }

    [Fact]
    public void Identity_labels_and_names_come_from_the_cluster_and_instance()
    {
        var m = Build(Named("two worker groups, mixed case and millicores"));
        Assert.Equal("ray.io/v1", m["apiVersion"]!.GetValue<string>());
        Assert.Equal("RayCluster", m["kind"]!.GetValue<string>());
        Assert.Equal(ClusterId, m["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(Namespace, m["metadata"]!["namespace"]!.GetValue<string>());
        var labels = m["metadata"]!["labels"]!.AsObject();
        Assert.Equal(WorkspaceId, labels["rayfleet.io/workspace-id"]!.GetValue<string>());
        Assert.Equal(ClusterId, labels["rayfleet.io/cluster-id"]!.GetValue<string>());
        Assert.Equal(InstanceId, labels["rayfleet.io/instance-id"]!.GetValue<string>());
        Assert.Equal("root_queue", labels["rayfleet.io/queue"]!.GetValue<string>());
        Assert.Equal("rayfleet", labels["app.kubernetes.io/managed-by"]!.GetValue<string>());
        Assert.Null(labels["kueue.x-k8s.io/queue-name"]);
        Assert.Null(m["spec"]!["managedBy"]); // left to KubeRay
        Assert.Equal("two groups", m["metadata"]!["annotations"]!["rayfleet.io/cluster-name"]!.GetValue<string>());
        // Pods carry the identity too: that is how the provider finds an instance's pods.
        foreach (var template in RayClusterManifest.Templates(m["spec"]!.AsObject()))
        {
            Assert.Equal(InstanceId, template["metadata"]!["labels"]!["rayfleet.io/instance-id"]!.GetValue<string>());
            Assert.Equal(ClusterId, template["metadata"]!["labels"]!["rayfleet.io/cluster-id"]!.GetValue<string>());
        }
        Assert.Equal("q-2", Group(m, 1)["template"]!["metadata"]!["labels"]!["rayfleet.io/queue"]!.GetValue<string>());
    }

    [Fact]
    public void Versions_resources_groups_and_replicas_map_onto_KubeRays_fields()
    {
        var m = Build(Named("two worker groups, mixed case and millicores"));
        Assert.Equal("2.55.1", m["spec"]!["rayVersion"]!.GetValue<string>());
        Assert.False(m["spec"]!["suspend"]!.GetValue<bool>());
        Assert.False(m["spec"]!["enableInTreeAutoscaling"]!.GetValue<bool>());
        Assert.Equal("rayproject/ray:2.55.1-py312", HeadContainer(m)["image"]!.GetValue<string>());
        Assert.Equal("ray-head", HeadContainer(m)["name"]!.GetValue<string>());
        Assert.Equal("""{"requests":{"cpu":"2","memory":"8Gi"},"limits":{"cpu":"2","memory":"8Gi"}}""", HeadContainer(m)["resources"]!.ToJsonString());
        Assert.Equal(["gcs-server", "dashboard", "client"], HeadContainer(m)["ports"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()));
        Assert.Equal("0.0.0.0", Head(m)["rayStartParams"]!["dashboard-host"]!.GetValue<string>());

        Assert.Equal("workergroup1", Group(m, 0)["groupName"]!.GetValue<string>());
        Assert.Equal(2, Group(m, 0)["replicas"]!.GetValue<int>());
        Assert.Equal(1, Group(m, 0)["minReplicas"]!.GetValue<int>());
        Assert.Equal(4, Group(m, 0)["maxReplicas"]!.GetValue<int>());
        Assert.Equal("ray-worker", GroupContainer(m, 0)["name"]!.GetValue<string>());
        Assert.Equal("""{"requests":{"cpu":"500m","memory":"1536Mi"},"limits":{"cpu":"500m","memory":"1536Mi"}}""", GroupContainer(m, 1)["resources"]!.ToJsonString());
        Assert.Null(m["spec"]!["autoscalerOptions"]);
        Assert.Null(m["spec"]!["gcsFaultToleranceOptions"]);

        var scaled = RayClusterManifest.Build(new RayClusterManifestInput(
            Named("two worker groups, mixed case and millicores").Request() with { Replicas = new Dictionary<string, int> { ["WorkerGroup1"] = 3, ["small"] = 1 } },
            Namespace, false), new KubernetesProviderOptions());
        Assert.Equal(3, Group(scaled, 0)["replicas"]!.GetValue<int>());
        // Replica counts are no part of the pod shape: scaling never recreates.
        Assert.Equal(m["metadata"]!["annotations"]!["rayfleet.io/pod-shape"]!.GetValue<string>(), scaled["metadata"]!["annotations"]!["rayfleet.io/pod-shape"]!.GetValue<string>());
    }

    [Fact]
    public void A_group_naming_its_own_release_version_runs_that_image()
    {
        var m = Build(Named("a group on its own release version"));
        Assert.Equal("rayproject/ray:2.47.1-py312", GroupContainer(m, 0)["image"]!.GetValue<string>());
        Assert.Equal("rayproject/ray:2.55.1-py312", HeadContainer(m)["image"]!.GetValue<string>());
    }

    [Fact]
    public void Autoscaling_is_in_tree_with_the_idle_timeout()
    {
        var m = Build(Named("autoscaling with idle timeout"));
        Assert.True(m["spec"]!["enableInTreeAutoscaling"]!.GetValue<bool>());
        Assert.Equal(120, m["spec"]!["autoscalerOptions"]!["idleTimeoutSeconds"]!.GetValue<int>());
        Assert.Equal("Default", m["spec"]!["autoscalerOptions"]!["upscalingMode"]!.GetValue<string>());
        Assert.Null(Group(m, 0)["idleTimeoutSeconds"]); // per-group timeouts need autoscaler v2 pinning; the cluster-wide one is Rayfleet's
    }

    [Fact]
    public void GPUs_come_from_the_catalogue_with_node_labels_and_tolerations()
    {
        var m = Build(Named("GPU head and GPU workers with tolerations"));
        Assert.Equal("1", HeadContainer(m)["resources"]!["limits"]!["nvidia.com/gpu"]!.GetValue<string>());
        Assert.Equal("2", GroupContainer(m, 0)["resources"]!["limits"]!["nvidia.com/gpu"]!.GetValue<string>());
        Assert.Equal("2", GroupContainer(m, 0)["resources"]!["requests"]!["nvidia.com/gpu"]!.GetValue<string>());
        Assert.Equal("""{"node.kubernetes.io/instance-type":"ecs.gn6i-c4g1.xlarge","nvidia.com/gpu.product":"Tesla-T4"}""", Head(m)["template"]!["spec"]!["nodeSelector"]!.ToJsonString());
        Assert.Equal("""{"nvidia.com/gpu.product":"NVIDIA-A10"}""", Group(m, 0)["template"]!["spec"]!["nodeSelector"]!.ToJsonString());
        var tolerations = Group(m, 0)["template"]!["spec"]!["tolerations"]!.AsArray();
        Assert.Equal(2, tolerations.Count);
        Assert.Equal("""{"operator":"Equal","key":"dedicated","value":"ray","effect":"NoExecute","tolerationSeconds":300}""", tolerations[1]!.ToJsonString());

        var cpuOnly = Build(Named("two worker groups, mixed case and millicores"));
        Assert.Null(Head(cpuOnly)["template"]!["spec"]!["tolerations"]);
        Assert.Null(Head(cpuOnly)["template"]!["spec"]!["nodeSelector"]);
    }

    [Fact]
    public void Env_lines_and_ray_start_parameters_are_parsed()
    {
        var m = Build(Named("env and rayStartParams"));
        Assert.Equal("""[{"name":"A","value":"3"},{"name":"B","value":"two words"}]""", HeadContainer(m)["env"]!.ToJsonString());
        Assert.Equal("""{"dashboard-host":"0.0.0.0","disable-usage-stats":"true","num-cpus":"0","object-store-memory":"1000000000"}""", Head(m)["rayStartParams"]!.ToJsonString());
        Assert.Equal("""{"num-cpus":"4","num-gpus":"0"}""", Group(m, 0)["rayStartParams"]!.ToJsonString());
        Assert.Equal("""[{"name":"OMP_NUM_THREADS","value":"4"}]""", GroupContainer(m, 0)["env"]!.ToJsonString());
    }

    // Issue 9 point 5. KubeRay v1.7.0 pod.go ~1394-1397: without num-cpus in rayStartParams it writes
    // strconv.FormatInt(cpu.Value(), 10) of the CPU limit, and Quantity.Value() rounds up, so a 500m node would tell Ray
    // it has 1 CPU while the queue accounts 0.5. Rayfleet says the whole cores, rounded down, as the local provider does.
    [Fact]
    public void Every_group_tells_Ray_its_whole_cores_rounded_down_instead_of_KubeRays_rounded_up_limit()
    {
        var c = Named("two worker groups, mixed case and millicores");
        var m = Build(c with { Spec = c.Spec with { Head = c.Spec.Head with { Cpu = "2500m" } } });

        Assert.Equal("2", Head(m)["rayStartParams"]!["num-cpus"]!.GetValue<string>());
        Assert.Equal("4", Group(m, 0)["rayStartParams"]!["num-cpus"]!.GetValue<string>());
        Assert.Equal("500m", GroupContainer(m, 1)["resources"]!["limits"]!["cpu"]!.GetValue<string>());
        Assert.Equal("0", Group(m, 1)["rayStartParams"]!["num-cpus"]!.GetValue<string>());
    }

    [Fact]
    public void Volumes_are_mounted_on_every_node()
    {
        var m = Build(Named("PVC and hostPath volumes"));
        foreach (var template in RayClusterManifest.Templates(m["spec"]!.AsObject()))
        {
            Assert.Equal("""[{"name":"vol-0123456789abcdef","persistentVolumeClaim":{"claimName":"shared-data"}},{"name":"vol-fedcba9876543210","hostPath":{"path":"/opt/models"}}]""",
                template["spec"]!["volumes"]!.ToJsonString());
            Assert.Equal("""[{"name":"vol-0123456789abcdef","mountPath":"/mnt/data"},{"name":"vol-fedcba9876543210","mountPath":"/models"}]""",
                template["spec"]!["containers"]![0]!["volumeMounts"]!.ToJsonString());
        }
    }

    [Fact]
    public void A_network_service_becomes_the_configured_pod_template_overlay()
    {
        var m = Build(Named("network service overlay"));
        foreach (var template in RayClusterManifest.Templates(m["spec"]!.AsObject()))
        {
            Assert.Equal("ns-0123456789abcdef", template["metadata"]!["labels"]!["rayfleet.io/network-service-id"]!.GetValue<string>());
            Assert.Equal("vpc-123", template["metadata"]!["labels"]!["example.com/vpc"]!.GetValue<string>());
            Assert.Equal("vpc a", template["metadata"]!["annotations"]!["rayfleet.io/network-service"]!.GetValue<string>());
            Assert.Equal("vsw-1,vsw-2", template["metadata"]!["annotations"]!["example.com/vswitches"]!.GetValue<string>());
            Assert.Equal("sg-9", template["metadata"]!["annotations"]!["example.com/sg"]!.GetValue<string>());
            Assert.Equal("cn-hangzhou-h", template["spec"]!["nodeSelector"]!["topology.kubernetes.io/zone"]!.GetValue<string>());
        }
    }

    [Fact]
    public void GCS_fault_tolerance_refers_to_a_Secret_and_never_holds_the_password()
    {
        var m = Build(Named("GCS fault tolerance with a password"));
        Assert.Equal("""{"redisAddress":"redis://redis.example:6379","redisUsername":{"value":"ray"},"redisPassword":{"valueFrom":{"secretKeyRef":{"name":"ray-abcdefgh01234567-gcs-redis","key":"password"}}}}""",
            m["spec"]!["gcsFaultToleranceOptions"]!.ToJsonString());
        Assert.DoesNotContain("PROTECTED-BLOB", m.ToJsonString(), StringComparison.Ordinal);

        var bare = Build(Named("GCS fault tolerance without credentials"));
        Assert.Equal("""{"redisAddress":"redis.example:6379"}""", bare["spec"]!["gcsFaultToleranceOptions"]!.ToJsonString());
    }

    [Fact]
    public void The_Kueue_queue_label_is_off_by_default_and_a_DNS_name_when_on()
    {
        var m = Build(Named("Kueue queue label on"));
        Assert.Equal("team-a-queue", m["metadata"]!["labels"]!["kueue.x-k8s.io/queue-name"]!.GetValue<string>());
        Assert.Equal("Team_A.Queue", m["metadata"]!["labels"]!["rayfleet.io/queue"]!.GetValue<string>());
        // Under Kueue, suspend is left to the queue.
        Assert.Null(Build(Named("Kueue queue label on"), suspend: null)["spec"]!["suspend"]);
    }

    [Fact]
    public void Changes_that_need_new_pods_change_the_pod_shape_and_live_ones_do_not()
    {
        var c = Named("two worker groups, mixed case and millicores");
        string Shape(JsonObject m) => m["metadata"]!["annotations"]!["rayfleet.io/pod-shape"]!.GetValue<string>();
        var baseline = Shape(Build(c));
        Assert.Equal(baseline, Shape(Build(c, suspend: true)));
        Assert.Equal(baseline, Shape(RayClusterManifest.Build(new RayClusterManifestInput(c.Request("ray-abcdefgh01234567-other001"), Namespace, false), c.Options)));
        Assert.NotEqual(baseline, Shape(Build(c, release: OldRelease)));
        Assert.NotEqual(baseline, Shape(Build(c with { Spec = c.Spec with { Head = c.Spec.Head with { Memory = "12Gi" } } })));
        Assert.NotEqual(baseline, Shape(Build(c with { Spec = c.Spec with { Head = c.Spec.Head with { Env = "X=1" } } })));
        Assert.NotEqual(baseline, Shape(Build(c with { Spec = c.Spec with { Head = c.Spec.Head with { RayStartParams = "--num-cpus=0" } } })));
    }
}
