using System.Text.Json.Nodes;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

[Collection(KubernetesCollection.Name)]
public sealed class RayJobManifestTests
{
    public const string SubmissionId = "rj-0123456789abcdef";

    public static readonly string[] Modes = ["HTTPMode", "K8sJobMode", "SidecarMode"];

    public static RayJobSubmission Submission => new()
    {
        SubmissionId = SubmissionId,
        Entrypoint = "python -c \"print('hello ray job')\"",
        RuntimeEnvJson = "{\n\t\"pip\": [\"requests==2.26.0\"],\n\t\"env_vars\": {\"KEY\": \"VALUE\"}\n}",
        Metadata = new Dictionary<string, string> { ["team"] = "a", ["owner"] = "b" },
        EntrypointNumCpus = 1.5,
        EntrypointNumGpus = 0,
        EntrypointResources = new Dictionary<string, double> { ["fpu"] = 1 },
    };

    public static ProviderJob Job(string mode, bool shutdown = true, int? ttl = 60, int? deadline = 3600) => new(Submission, mode, shutdown, ttl, deadline);

    private static JsonObject Build(Case c, ProviderJob job, bool? suspend = false) =>
        RayJobManifest.Build(new RayClusterManifestInput(c.Request() with { Job = job }, Namespace, suspend), c.Options);

    public static TheoryData<string, string> CasesAndModes()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in All())
            foreach (var mode in Modes) data.Add(c.Name, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(CasesAndModes))]
    public void Every_RayJob_manifest_validates_against_the_v1_RayJob_CRD_and_KubeRays_checks(string name, string mode)
    {
        var c = Named(name);
        foreach (var job in new[] { Job(mode), Job(mode, shutdown: false, ttl: null, deadline: null), Job(mode, ttl: 0) })
            foreach (var suspend in new bool?[] { false, null })
            {
                var manifest = Build(c, job, suspend);
                Assert.Equal([], CrdSchema.RayJobV1.Validate(manifest));
                Assert.Equal([], KubeRayChecks.CheckJob(manifest));
            }
    }

    [Fact]
    public void The_RayJob_carries_exactly_the_RayClusters_spec_and_labels_and_the_job()
    {
        var c = Named("everything at once");
        var options = c.Options;
        var cluster = ManifestCases.Build(c, suspend: null);
        var job = Build(c, Job("HTTPMode", ttl: 300, deadline: 1800));

        Assert.Equal(("ray.io/v1", "RayJob"), (job["apiVersion"]!.GetValue<string>(), job["kind"]!.GetValue<string>()));
        Assert.Equal(ClusterId, job["metadata"]!["name"]!.GetValue<string>());
        Assert.Equal(cluster["metadata"]!["labels"]!.ToJsonString(), job["metadata"]!["labels"]!.ToJsonString());
        Assert.Equal(cluster["spec"]!.ToJsonString(), job["spec"]!["rayClusterSpec"]!.ToJsonString());

        var spec = job["spec"]!;
        Assert.Equal(Submission.Entrypoint, spec["entrypoint"]!.GetValue<string>());
        Assert.Equal(SubmissionId, spec["jobId"]!.GetValue<string>());
        Assert.Equal("HTTPMode", spec["submissionMode"]!.GetValue<string>());
        Assert.False(spec["suspend"]!.GetValue<bool>());
        Assert.True(spec["shutdownAfterJobFinishes"]!.GetValue<bool>());
        Assert.Equal(300, spec["ttlSecondsAfterFinished"]!.GetValue<int>());
        Assert.Equal(1800, spec["activeDeadlineSeconds"]!.GetValue<int>());
        // Compact: the tabs that indent the request's JSON are no YAML.
        Assert.Equal("{\"pip\":[\"requests==2.26.0\"],\"env_vars\":{\"KEY\":\"VALUE\"}}", spec["runtimeEnvYAML"]!.GetValue<string>());
        Assert.Equal("{\"owner\":\"b\",\"team\":\"a\"}", spec["metadata"]!.ToJsonString());
        Assert.Equal(1.5, spec["entrypointNumCpus"]!.GetValue<double>());
        Assert.Equal(0, spec["entrypointNumGpus"]!.GetValue<double>());
        Assert.Equal("{\"fpu\":1}", spec["entrypointResources"]!.GetValue<string>());
        Assert.Null(spec["entrypointMemory"]);
        _ = options;
    }

    [Fact]
    public void KubeRays_shutdown_waits_at_least_the_grace_so_Rayfleet_copies_node_logs_first()
    {
        var c = Named("minimal head only");
        Assert.Equal(120, Build(c, Job("K8sJobMode", ttl: 0))["spec"]!["ttlSecondsAfterFinished"]!.GetValue<int>());
        Assert.Equal(600, Build(c, Job("K8sJobMode", ttl: 600))["spec"]!["ttlSecondsAfterFinished"]!.GetValue<int>());
        var exact = RayJobManifest.Build(new RayClusterManifestInput(c.Request() with { Job = Job("K8sJobMode", ttl: 5) }, Namespace, false),
            new KubernetesProviderOptions { JobShutdownGrace = TimeSpan.Zero });
        Assert.Equal(5, exact["spec"]!["ttlSecondsAfterFinished"]!.GetValue<int>());
        // Without shutdown there is no TTL: KubeRay refuses one (validation.go:753-755).
        Assert.Null(Build(c, Job("K8sJobMode", shutdown: false, ttl: null))["spec"]!["ttlSecondsAfterFinished"]);
    }

    [Fact]
    public void The_RayJob_schema_test_can_fail_deliberately_broken_manifests_are_rejected()
    {
        var good = Build(Named("two worker groups, mixed case and millicores"), Job("K8sJobMode"));
        Assert.Empty(CrdSchema.RayJobV1.Validate(good));
        var cases = new (string What, Action<JsonObject> Break)[]
        {
            ("entrypointResources as an object", m => m["spec"]!["entrypointResources"] = new JsonObject { ["fpu"] = 1 }),
            ("entrypointNumCpus as text", m => m["spec"]!["entrypointNumCpus"] = "1"),
            ("an unknown field in the spec", m => m["spec"]!["entrypointMemory"] = 1024),
            ("ttl as text", m => m["spec"]!["ttlSecondsAfterFinished"] = "60"),
            ("a replica count as text inside rayClusterSpec", m => m["spec"]!["rayClusterSpec"]!["workerGroupSpecs"]![0]!["replicas"] = "two"),
            ("metadata values that are not text", m => m["spec"]!["metadata"] = new JsonObject { ["n"] = 1 }),
        };
        foreach (var (what, breakIt) in cases)
        {
            var broken = good.DeepClone().AsObject();
            breakIt(broken);
            Assert.True(CrdSchema.RayJobV1.Validate(broken).Count > 0, $"'{what}' should fail the RayJob schema");
        }
    }

    [Fact]
    public void KubeRays_RayJob_checks_catch_what_the_schema_does_not()
    {
        var good = Build(Named("two worker groups, mixed case and millicores"), Job("SidecarMode"));
        Assert.Empty(KubeRayChecks.CheckJob(good));
        var cases = new (string What, Action<JsonObject> Break, string Expect)[]
        {
            ("a name over 47 characters (validation.go:533-541)", m => m["metadata"]!["name"] = "ray-" + new string('a', 44), "47"),
            ("a TTL without shutdown (validation.go:753-755)", m => m["spec"]!["shutdownAfterJobFinishes"] = false, "needs shutdownAfterJobFinishes"),
            ("suspend without shutdown (validation.go:547-549)", m => { m["spec"]!["shutdownAfterJobFinishes"] = false; m["spec"]!.AsObject().Remove("ttlSecondsAfterFinished"); m["spec"]!["suspend"] = true; }, "cannot be suspended"),
            ("a negative TTL (validation.go:551-553)", m => m["spec"]!["ttlSecondsAfterFinished"] = -1, "negative"),
            ("a zero deadline (validation.go:619-621)", m => m["spec"]!["activeDeadlineSeconds"] = 0, "activeDeadlineSeconds"),
            ("InteractiveMode (submits nothing)", m => m["spec"]!["submissionMode"] = "InteractiveMode", "InteractiveMode"),
            ("SidecarMode with a restarting head (validation.go:591-603)", m => m["spec"]!["rayClusterSpec"]!["headGroupSpec"]!["template"]!["spec"]!["restartPolicy"] = "Always", "restartPolicy"),
            ("runtimeEnvYAML that is no map (validation.go:616-618)", m => m["spec"]!["runtimeEnvYAML"] = "[1, 2]", "runtimeEnvYAML"),
            ("entrypointResources that are no numbers", m => m["spec"]!["entrypointResources"] = "{\"fpu\": \"one\"}", "entrypointResources"),
            ("the cluster's own rules (min above max)", m => { var g = m["spec"]!["rayClusterSpec"]!["workerGroupSpecs"]![0]!; g["minReplicas"] = 5; g["maxReplicas"] = 2; }, "greater than maxReplicas"),
        };
        foreach (var (what, breakIt, expect) in cases)
        {
            var broken = good.DeepClone().AsObject();
            breakIt(broken);
            var problems = KubeRayChecks.CheckJob(broken);
            Assert.True(problems.Any(p => p.Contains(expect, StringComparison.Ordinal)), $"'{what}' should be refused with '{expect}'; got: {string.Join(" | ", problems)}");
        }
    }

    [Fact]
    public void The_RayJob_CRD_copy_is_KubeRays_own()
    {
        var repository = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var shared = Path.Combine(repository, "..", "shared", "kuberay", "ray.io_rayjobs.yaml");
        if (File.Exists(shared)) Assert.Equal(File.ReadAllText(shared), File.ReadAllText(CrdSchema.RayJobCrdPath));
        Assert.False(CrdSchema.RayJobV1.JsonSchemaDocument["properties"]!["spec"]!["additionalProperties"]!.GetValue<bool>());
    }

    [Fact]
    public void A_RayJobs_status_reads_as_Rays_job_details()
    {
        static JsonObject RayJob(JsonObject status) => new()
        {
            ["spec"] = new JsonObject { ["jobId"] = SubmissionId, ["submissionMode"] = "HTTPMode" },
            ["status"] = status,
        };
        var pending = RayJobResource.Details(RayJob(new JsonObject { ["jobDeploymentStatus"] = "Initializing", ["jobStatus"] = "" }));
        Assert.Equal((RayJobStatus.Pending, SubmissionId, (string?)null), (pending.Status, pending.SubmissionId, pending.ErrorType));

        var done = RayJobResource.Details(RayJob(new JsonObject
        {
            ["jobDeploymentStatus"] = "Complete", ["jobStatus"] = "SUCCEEDED", ["message"] = "Job finished successfully.",
            ["rayJobInfo"] = new JsonObject { ["startTime"] = "2026-01-02T03:04:05Z", ["endTime"] = "2026-01-02T03:05:05Z" },
        }));
        Assert.Equal((RayJobStatus.Succeeded, "Job finished successfully."), (done.Status, done.Message));
        Assert.Equal(60_000, done.EndTime - done.StartTime);

        var timeout = RayJobResource.Details(RayJob(new JsonObject
        {
            ["jobDeploymentStatus"] = "Failed", ["reason"] = "DeadlineExceeded", ["jobStatus"] = "RUNNING",
            ["message"] = "The RayJob has passed the activeDeadlineSeconds.", ["endTime"] = "2026-01-02T04:00:00Z",
        }));
        Assert.Equal((RayJobStatus.Failed, "DeadlineExceeded"), (timeout.Status, timeout.ErrorType));
        Assert.NotNull(timeout.EndTime);

        var app = RayJobResource.Details(RayJob(new JsonObject { ["jobDeploymentStatus"] = "Failed", ["reason"] = "AppFailed", ["jobStatus"] = "FAILED" }));
        Assert.Equal((RayJobStatus.Failed, (string?)null), (app.Status, app.ErrorType));

        var refused = RayJobResource.Details(RayJob(new JsonObject { ["jobDeploymentStatus"] = "ValidationFailed", ["message"] = "bad" }));
        Assert.Equal((RayJobStatus.Failed, "ValidationFailed", "bad"), (refused.Status, refused.ErrorType, refused.Message));
    }
}
