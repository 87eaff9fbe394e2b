using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Tests;

/// <summary>KubeRayRules.CheckJob: what KubeRay v1.7.0 would refuse in a job-mode job's RayJob, refused at the API.</summary>
public sealed class KubeRayJobRulesTests
{
    private static IReadOnlyList<string> Fields(
        string? mode = "HTTPMode", bool shutdown = true, long? ttl = 60, long? deadline = 3600,
        string? memory = null, string? resources = "{\"fpu\": 1}", string? runtimeEnv = "{\"pip\": [\"x\"]}") =>
        [.. KubeRayRules.CheckJob(mode, shutdown, ttl, deadline, memory, resources, runtimeEnv).Select(p => p.Field)];

    [Theory]
    [InlineData("HTTPMode")]
    [InlineData("K8sJobMode")]
    [InlineData("SidecarMode")]
    [InlineData(null)]
    public void A_job_KubeRay_runs_passes(string? mode)
    {
        Assert.Empty(Fields(mode));
        Assert.Empty(Fields(mode, shutdown: false, ttl: null, deadline: null, resources: null, runtimeEnv: null));
        Assert.Empty(Fields(mode, shutdown: false, ttl: 0));
    }

    [Fact]
    public void A_submission_mode_that_submits_nothing_is_refused()
    {
        Assert.Equal(["submissionMode"], Fields("InteractiveMode"));
        Assert.Equal(["submissionMode"], Fields("httpmode"));
        Assert.Contains("InteractiveMode is not supported", KubeRayRules.CheckJob("InteractiveMode", true, null, null, null, null, null).Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_TTL_without_shutdown_or_below_zero_is_refused()
    {
        Assert.Equal(["ttlSecondsAfterFinished"], Fields(shutdown: false, ttl: 30));
        Assert.Equal(["ttlSecondsAfterFinished"], Fields(ttl: -1));
        Assert.Equal(["ttlSecondsAfterFinished"], Fields(ttl: 3_000_000_000));
    }

    [Fact]
    public void An_active_deadline_must_be_positive()
    {
        Assert.Equal(["activeDeadlineSeconds"], Fields(deadline: 0));
        Assert.Equal(["activeDeadlineSeconds"], Fields(deadline: -5));
    }

    [Fact]
    public void What_a_RayJob_cannot_carry_is_refused_and_every_problem_is_reported_at_once()
    {
        Assert.Equal(["entrypointMemory"], Fields(memory: "4Gi"));
        Assert.Equal(["entrypointResources"], Fields(resources: "{\"fpu\": \"one\"}"));
        Assert.Equal(["entrypointResources"], Fields(resources: "[1]"));
        Assert.Equal(["runtimeEnvJson"], Fields(runtimeEnv: "[\"pip\"]"));
        Assert.Equal(["submissionMode", "ttlSecondsAfterFinished", "activeDeadlineSeconds", "entrypointMemory"],
            Fields("InteractiveMode", shutdown: false, ttl: 10, deadline: 0, memory: "1Gi"));
    }
}
