using System.Text.Json.Nodes;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>The autoscaler part of the RayCluster, read against KubeRay v1.7.0's source.</summary>
[Collection(KubernetesCollection.Name)]
public sealed class AutoscalerManifestTests
{
    private static JsonObject Autoscaling(ReleaseVersion release, KubernetesProviderOptions? options = null, string? headEnv = null)
    {
        var c = Named("autoscaling with idle timeout");
        if (headEnv is not null) c = c with { Spec = c.Spec with { Head = c.Spec.Head with { Env = headEnv } } };
        if (options is not null) c = c with { Options = options };
        return Build(c, release: release);
    }

    private static ReleaseVersion RayRelease(string rayVersion) =>
        Release with { DisplayReleaseVersion = $"ray ({rayVersion})", RayVersion = rayVersion, Image = $"rayproject/ray:{rayVersion}" };

    /// <summary>KubeRay v1.7.0 utils/util.go ~756, IsAutoscalingV2Enabled: the version field and nothing else.</summary>
    private static bool KubeRayIsAutoscalingV2Enabled(JsonObject m) => m["spec"]?["autoscalerOptions"]?["version"]?.GetValue<string>() == "v2";

    /// <summary>
    /// KubeRay v1.7.0 utils/validation.go ~1006–1027, validateWorkerGroupIdleTimeout: a group's own idleTimeoutSeconds
    /// needs version v2, or (KubeRay before 1.4) the head container's RAY_enable_autoscaler_v2 at "1" or "true".
    /// </summary>
    private static bool KubeRayAcceptsGroupIdleTimeout(JsonObject m)
    {
        if (KubeRayIsAutoscalingV2Enabled(m)) return true;
        var env = m["spec"]!["headGroupSpec"]!["template"]!["spec"]!["containers"]![0]!["env"] as JsonArray ?? [];
        var value = env.OfType<JsonObject>().FirstOrDefault(e => e["name"]?.GetValue<string>() == "RAY_enable_autoscaler_v2")?["value"]?.GetValue<string>();
        return value is "1" or "true";
    }

    [Theory]
    [InlineData("2.55.1", "v2")]
    [InlineData("2.47.1", "v2")]
    [InlineData("2.47.0", "v2")]
    [InlineData("2.46.0", "v1")]
    [InlineData("2.9.3", "v1")]
    [InlineData("nightly", "v1")]
    public void The_autoscaler_version_is_said_explicitly_v2_from_Ray_2_47_on_because_KubeRay_infers_nothing(string rayVersion, string expected)
    {
        var m = Autoscaling(RayRelease(rayVersion));

        Assert.Equal(expected, m["spec"]!["autoscalerOptions"]!["version"]!.GetValue<string>());
        // KubeRay v1.7.0 utils/util.go ~756: only the explicit field turns on v2 (and with it, common/pod.go ~278–283
        // and ~698, the v2 environment and restartPolicy Never).
        Assert.Equal(expected == "v2", KubeRayIsAutoscalingV2Enabled(m));
        Assert.Equal([], CrdSchema.RayClusterV1.Validate(m));
        Assert.Equal([], KubeRayChecks.Check(m));
    }

    [Fact]
    public void The_autoscaler_version_follows_the_release_the_head_runs_which_is_where_the_autoscaler_runs()
    {
        // KubeRay v1.7.0 common/pod.go ~251: the sidecar runs the head container's image.
        var c = Named("autoscaling with idle timeout");
        var headOnOld = c with { Spec = c.Spec with { Head = c.Spec.Head with { DisplayReleaseVersion = OldRelease.DisplayReleaseVersion } } };
        var oldHead = Build(headOnOld, release: RayRelease("2.40.0"));
        Assert.Equal("v2", oldHead["spec"]!["autoscalerOptions"]!["version"]!.GetValue<string>()); // the head's Ray 2.47.1
        Assert.Equal("2.40.0", oldHead["spec"]!["rayVersion"]!.GetValue<string>());
    }

    [Fact]
    public void A_groups_own_idle_timeout_is_valid_for_KubeRay_exactly_when_the_manifest_says_v2()
    {
        foreach (var (rayVersion, v2) in new[] { ("2.55.1", true), ("2.46.0", false) })
        {
            var m = Autoscaling(RayRelease(rayVersion));
            m["spec"]!["workerGroupSpecs"]![0]!["idleTimeoutSeconds"] = 30;

            // KubeRay v1.7.0 utils/validation.go ~1006–1027.
            Assert.Equal(v2, KubeRayAcceptsGroupIdleTimeout(m));
            Assert.Equal(v2, !KubeRayChecks.Check(m).Any(p => p.Contains("idleTimeoutSeconds", StringComparison.Ordinal)));
        }

        // Rayfleet's idle timeout is cluster-wide (autoscalerOptions.idleTimeoutSeconds, v1 and v2 alike): no group
        // carries its own, so a v1 cluster is never refused for it.
        var v1 = Autoscaling(RayRelease("2.46.0"));
        Assert.Equal(120, v1["spec"]!["autoscalerOptions"]!["idleTimeoutSeconds"]!.GetValue<int>());
        Assert.All(v1["spec"]!["workerGroupSpecs"]!.AsArray(), g => Assert.Null(g!["idleTimeoutSeconds"]));
    }

    [Fact]
    public void A_head_env_that_pins_the_autoscaler_itself_keeps_the_version_out_which_KubeRay_refuses_beside_it()
    {
        var said = Autoscaling(Release);
        Assert.Equal("v2", said["spec"]!["autoscalerOptions"]!["version"]!.GetValue<string>());

        // KubeRay v1.7.0 utils/validation.go ~222: autoscalerOptions.version and the head's RAY_enable_autoscaler_v2
        // together are an error; the user's own env is the older way of saying the same, and it wins.
        var pinned = Autoscaling(Release, headEnv: "RAY_enable_autoscaler_v2=0");
        Assert.Null(pinned["spec"]!["autoscalerOptions"]!["version"]);
        Assert.Equal([], KubeRayChecks.Check(pinned));
    }

    [Fact]
    public void The_autoscaler_sidecar_gets_KubeRays_default_resources_explicitly_or_the_configured_ones_requests_equal_to_limits()
    {
        // KubeRay v1.7.0 common/pod.go ~989–998 (the default) and ~1006 (autoscalerOptions.resources replaces it whole).
        var m = Autoscaling(Release);
        Assert.Equal("""{"requests":{"cpu":"500m","memory":"512Mi"},"limits":{"cpu":"500m","memory":"512Mi"}}""",
            m["spec"]!["autoscalerOptions"]!["resources"]!.ToJsonString());

        var configured = Autoscaling(Release, new KubernetesProviderOptions { AutoscalerCpu = "1.5", AutoscalerMemory = "1.5Gi" });
        Assert.Equal("""{"requests":{"cpu":"1500m","memory":"1536Mi"},"limits":{"cpu":"1500m","memory":"1536Mi"}}""",
            configured["spec"]!["autoscalerOptions"]!["resources"]!.ToJsonString());
        Assert.Equal([], CrdSchema.RayClusterV1.Validate(configured));

        // No autoscaling, no sidecar: nothing to size.
        Assert.Null(Build(Named("two worker groups, mixed case and millicores"))["spec"]!["autoscalerOptions"]);
    }

    [Fact]
    public void Autoscaler_resources_that_are_no_quantities_stop_the_service_naming_the_setting()
    {
        var result = new KubernetesProviderOptionsValidator().Validate(null, new KubernetesProviderOptions
        {
            Host = "http://127.0.0.1:1", AutoscalerCpu = "half a core", AutoscalerMemory = "0",
        });
        Assert.True(result.Failed);
        Assert.Contains("Rayfleet:Kubernetes:AutoscalerCpu 'half a core'", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Rayfleet:Kubernetes:AutoscalerMemory '0'", result.FailureMessage, StringComparison.Ordinal);
    }
}
