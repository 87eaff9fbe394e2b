using System.Globalization;
using System.Text.Json.Nodes;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Ray's Job API for a job-mode cluster, whose job KubeRay's RayJob carries and submits. The job's status is read from
/// the RayJob (it outlives the RayCluster, so a finished job still answers after KubeRay or Rayfleet deleted its
/// cluster); stop goes to the head's dashboard, as KubeRay's own stop does when a RayJob is deleted
/// (rayjob_controller.go:112-138); the driver log is the submitter pod's in K8sJobMode (KubeRay keeps that pod after the
/// cluster for this, rayjob_controller.go:1543-1544), else the head's. Any other submission id goes to the head as on
/// an ordinary cluster.
/// </summary>
internal sealed class RayJobResourceApi(
    Func<CancellationToken, Task<JsonObject?>> readRayJob,
    Func<JsonObject, IRayJobApi?> headOf,
    Func<JsonObject, CancellationToken, Task<string?>> submitterLog) : IRayJobApi
{
    public async Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken)
    {
        var rayJob = await readRayJob(cancellationToken);
        if (rayJob is null) return RaySubmitOutcome.NotReady;
        if (!Carries(rayJob, submission.SubmissionId))
            return headOf(rayJob) is { } head ? await head.SubmitAsync(submission, cancellationToken) : RaySubmitOutcome.NotReady;
        // The RayJob carries this submission: KubeRay submits it. Once it reports the job, the submit has happened.
        return RayJobResource.Reached(rayJob) ? RaySubmitOutcome.AlreadySubmitted : RaySubmitOutcome.NotReady;
    }

    public async Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken)
    {
        var rayJob = await readRayJob(cancellationToken);
        if (rayJob is null) return null;
        if (Carries(rayJob, submissionId)) return RayJobResource.Details(rayJob);
        return headOf(rayJob) is { } head ? await head.GetAsync(submissionId, cancellationToken) : null;
    }

    public async Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken)
    {
        var rayJob = await readRayJob(cancellationToken);
        // Before KubeRay reached Ray there is nothing to stop there: the caller removes the instance, and KubeRay's
        // finalizer stops a job that reached Ray meanwhile.
        if (rayJob is null || headOf(rayJob) is not { } head) return false;
        return await head.StopAsync(submissionId, cancellationToken);
    }

    public async Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken)
    {
        var rayJob = await readRayJob(cancellationToken);
        if (rayJob is null) return "";
        if (Carries(rayJob, submissionId) && RayJobResource.Mode(rayJob) == "K8sJobMode"
            && await submitterLog(rayJob, cancellationToken) is { } log)
            return log;
        return headOf(rayJob) is { } head ? await head.LogsAsync(submissionId, cancellationToken) : "";
    }

    public async Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken)
    {
        var rayJob = await readRayJob(cancellationToken);
        if (rayJob is null) return [];
        if (headOf(rayJob) is { } head) return await head.ListAsync(cancellationToken);
        return [RayJobResource.Details(rayJob)];
    }

    private static bool Carries(JsonObject rayJob, string submissionId) => RayJobResource.SubmissionId(rayJob) == submissionId;
}

/// <summary>Reading a RayJob's spec and status (ray.io/v1, KubeRay v1.7.0 rayjob_types.go).</summary>
public static class RayJobResource
{
    public static string? SubmissionId(JsonObject rayJob) => Text(rayJob["spec"]?["jobId"]) ?? Text(rayJob["status"]?["jobId"]);

    /// <summary><c>spec.submissionMode</c>, with the CRD's default.</summary>
    public static string Mode(JsonObject rayJob) => Text(rayJob["spec"]?["submissionMode"]) ?? "K8sJobMode";

    public static string? DeploymentStatus(JsonObject rayJob) => Text(rayJob["status"]?["jobDeploymentStatus"]);

    public static string? RayClusterName(JsonObject rayJob) => Text(rayJob["status"]?["rayClusterName"]) is { Length: > 0 } n ? n : null;

    /// <summary>KubeRay has found the head's dashboard (it sets <c>dashboardURL</c> once the RayCluster is ready).</summary>
    public static bool HeadKnown(JsonObject rayJob) => Text(rayJob["status"]?["dashboardURL"]) is { Length: > 0 };

    /// <summary>KubeRay reported the job from Ray (a Ray job status), or gave up on it.</summary>
    public static bool Reached(JsonObject rayJob) =>
        Text(rayJob["status"]?["jobStatus"]) is { Length: > 0 } s && s != "NEW" || DeploymentStatus(rayJob) is "Complete" or "Failed" or "ValidationFailed";

    /// <summary>
    /// The job as Ray's JobDetails would give it. KubeRay's own failures (a validation it refused, the active deadline,
    /// a submitter that gave up...) are <c>FAILED</c> with the RayJob's <c>reason</c> as the error type: a deadline is
    /// <c>DeadlineExceeded</c>, which the caller shows as <c>Timeout</c>. KubeRay does not stop the Ray job at its
    /// deadline; with <c>shutdownAfterJobFinishes</c> it goes with the cluster, otherwise a caller stops it.
    /// </summary>
    public static RayJobDetails Details(JsonObject rayJob)
    {
        var status = rayJob["status"] as JsonObject;
        var deployment = DeploymentStatus(rayJob);
        var reason = Text(status?["reason"]);
        var jobStatus = Text(status?["jobStatus"]);
        var message = Text(status?["message"]);
        var rayStatus = jobStatus is null or "" or "NEW" ? RayJobStatus.Pending : jobStatus;
        string? errorType = null;
        if (deployment == "ValidationFailed")
        {
            rayStatus = RayJobStatus.Failed;
            errorType = "ValidationFailed";
        }
        else if (deployment == "Failed" && reason is { Length: > 0 } && reason != "AppFailed")
        {
            rayStatus = RayJobStatus.Failed;
            errorType = reason;
        }
        else if (deployment == "Failed")
        {
            rayStatus = RayJobStatus.Failed;
        }
        var start = Time(status?["rayJobInfo"]?["startTime"]);
        var end = Time(status?["rayJobInfo"]?["endTime"]);
        if (rayStatus is RayJobStatus.Failed or RayJobStatus.Stopped or RayJobStatus.Succeeded) end ??= Time(status?["endTime"]);
        return new RayJobDetails
        {
            Type = "SUBMISSION",
            SubmissionId = SubmissionId(rayJob),
            Status = rayStatus,
            Message = message,
            ErrorType = errorType,
            StartTime = start,
            EndTime = end,
        };
    }

    private static long? Time(JsonNode? node) =>
        Text(node) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t.ToUnixTimeMilliseconds()
            : null;

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
