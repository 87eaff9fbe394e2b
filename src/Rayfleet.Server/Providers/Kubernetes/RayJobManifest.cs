using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Pure mapping of a job-mode cluster (a request carrying <see cref="ProviderClusterRequest.Job"/>) onto a KubeRay
/// <c>RayJob</c> (ray.io/v1). Its <c>spec.rayClusterSpec</c> is exactly the spec <see cref="RayClusterManifest.Spec"/>
/// gives the cluster's RayCluster; KubeRay makes a RayCluster from it (named <c>status.rayClusterName</c>, the RayJob's
/// name plus five random characters, carrying the RayJob's labels) and submits the entrypoint itself.
/// </summary>
public static class RayJobManifest
{
    public const string Kind = "RayJob";
    public const string Plural = "rayjobs";

    /// <summary>KubeRay v1.7.0 utils/constant.go:347: held while KubeRay stops a job that did not finish before its RayJob is deleted.</summary>
    public const string StopJobFinalizer = "ray.io/rayjob-finalizer";

    /// <summary>KubeRay's name of a RayJob is at most 47 characters (utils/constant.go:381, the RayCluster's 53 less 6).</summary>
    public const int MaxNameLength = 47;

    public static JsonObject Build(RayClusterManifestInput input, KubernetesProviderOptions options)
    {
        var request = input.Request;
        var job = request.Job ?? throw new ArgumentException("The request carries no job.", nameof(input));
        var submission = job.Submission;

        // KubeRay copies rayClusterSpec into the RayCluster as it stands; suspension is the RayJob's, never its cluster's.
        var clusterSpec = RayClusterManifest.Spec(input with { Suspend = null }, options);
        var spec = new JsonObject
        {
            ["entrypoint"] = submission.Entrypoint,
            // KubeRay's Ray submission_id (rayjob_controller.go initRayJobStatusIfNeed: status.jobId = spec.jobId; HTTPMode
            // posts it as submission_id, K8sJobMode/SidecarMode pass --submission-id, and K8sJobMode checks
            // `ray job status` first): a retried submit finds the job already there instead of running it twice.
            ["jobId"] = submission.SubmissionId,
            ["submissionMode"] = job.SubmissionMode,
        };
        if (input.Suspend is { } suspend) spec["suspend"] = suspend;
        spec["shutdownAfterJobFinishes"] = job.ShutdownAfterJobFinishes;
        if (job.ShutdownAfterJobFinishes) spec["ttlSecondsAfterFinished"] = ShutdownTtl(job, options);
        if (job.ActiveDeadlineSeconds is { } deadline) spec["activeDeadlineSeconds"] = deadline;
        // JSON is YAML: KubeRay reads runtimeEnvYAML with a YAML parser into a map (dashboard_httpclient.go:382-388).
        // Written compact: a tab that indents a line, which JSON allows, is not YAML.
        if (submission.RuntimeEnvJson is { Length: > 0 } runtimeEnv) spec["runtimeEnvYAML"] = JsonNode.Parse(runtimeEnv)?.ToJsonString() ?? runtimeEnv;
        if (submission.Metadata is { Count: > 0 } metadata)
            spec["metadata"] = new JsonObject(metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        if (submission.EntrypointNumCpus is { } cpus) spec["entrypointNumCpus"] = cpus;
        if (submission.EntrypointNumGpus is { } gpus) spec["entrypointNumGpus"] = gpus;
        // A JSON text in the CRD (a string), unmarshalled by KubeRay into a map of numbers.
        if (submission.EntrypointResources is { Count: > 0 } resources)
            spec["entrypointResources"] = new JsonObject(resources.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))).ToJsonString();
        spec["rayClusterSpec"] = clusterSpec;

        return new JsonObject
        {
            ["apiVersion"] = RayClusterManifest.ApiVersion,
            ["kind"] = Kind,
            ["metadata"] = RayClusterManifest.Metadata(request, input.Namespace, options),
            ["spec"] = spec,
        };
    }

    /// <summary>
    /// The <c>ttlSecondsAfterFinished</c> KubeRay gets: the job's own, but at least
    /// <see cref="KubernetesProviderOptions.JobShutdownGrace"/>. Rayfleet deletes a finished job's cluster itself at the
    /// job's TTL, after copying its nodes' logs (they go with the pods); KubeRay's own shutdown is the backstop for
    /// when Rayfleet is not running, and must not beat Rayfleet to the logs.
    /// </summary>
    public static int ShutdownTtl(ProviderJob job, KubernetesProviderOptions options) =>
        (int)Math.Min(int.MaxValue, Math.Max(job.TtlSecondsAfterFinished ?? 0, (long)Math.Ceiling(options.JobShutdownGrace.TotalSeconds)));
}
