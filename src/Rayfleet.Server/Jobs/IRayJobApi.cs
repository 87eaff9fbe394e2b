using System.Text.Json.Serialization;

namespace Rayfleet.Server.Jobs;

/// <summary>
/// Ray's Job Submission API of one cluster head (the dashboard's <c>/api/jobs/</c> routes, see
/// <c>shared/reference/ray-jobs.md</c>), as the job reconciler uses it. The local provider and a Kubernetes cluster's
/// head service speak it over HTTP (<see cref="RayJobClient"/>); the simulated provider answers it in process. Every
/// call is safe to repeat: a submit of a submission id Ray already knows answers <see cref="RaySubmitOutcome.AlreadySubmitted"/>.
/// </summary>
public interface IRayJobApi
{
    /// <summary>Submits the job under its submission id.</summary>
    Task<RaySubmitOutcome> SubmitAsync(RayJobSubmission submission, CancellationToken cancellationToken);

    /// <summary>The job's details; null when Ray does not know the submission id (404).</summary>
    Task<RayJobDetails?> GetAsync(string submissionId, CancellationToken cancellationToken);

    /// <summary>Asks Ray to stop the job (SIGTERM to its driver); true when Ray says it was stopped.</summary>
    Task<bool> StopAsync(string submissionId, CancellationToken cancellationToken);

    /// <summary>The driver's whole log so far (<c>""</c> before a driver exists).</summary>
    Task<string> LogsAsync(string submissionId, CancellationToken cancellationToken);

    /// <summary>Every job Ray reports: submitted jobs and drivers (interactive <c>ray.init</c> drivers, Ray Client sessions).</summary>
    Task<IReadOnlyList<RayJobDetails>> ListAsync(CancellationToken cancellationToken);
}

public enum RaySubmitOutcome
{
    /// <summary>Ray accepted the submission.</summary>
    Submitted,

    /// <summary>Ray already had a job with this submission id (its 500 "already exists"): the earlier submit counts.</summary>
    AlreadySubmitted,

    /// <summary>The head cannot take jobs yet (500 "No available agent to submit job", or the dashboard not answering): try again later.</summary>
    NotReady,
}

/// <summary>The body of <c>POST /api/jobs/</c>; null members are left out of the JSON, as Ray's SDK does.</summary>
public sealed record RayJobSubmission
{
    public required string SubmissionId { get; init; }
    public required string Entrypoint { get; init; }
    /// <summary>A JSON object (Ray's runtime_env), or null.</summary>
    public string? RuntimeEnvJson { get; init; }
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    public double? EntrypointNumCpus { get; init; }
    public double? EntrypointNumGpus { get; init; }
    /// <summary>Bytes.</summary>
    public long? EntrypointMemory { get; init; }
    public IReadOnlyDictionary<string, double>? EntrypointResources { get; init; }
    /// <summary>
    /// The EMR job's <c>extraParam</c> as submitted. Not part of Ray's body and never sent to Ray (an unknown field is a
    /// 400 there); a provider that answers in process may read it (the simulated provider's <c>simulated</c> section).
    /// </summary>
    [JsonIgnore]
    public string? ExtraParam { get; init; }
}

/// <summary>Ray's job API bodies: snake_case names, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RayJobDetails))]
internal sealed partial class RayDashboardJson : JsonSerializerContext;

/// <summary>Ray's JobDetails, the fields Rayfleet reads.</summary>
public sealed record RayJobDetails
{
    /// <summary><c>SUBMISSION</c> or <c>DRIVER</c>.</summary>
    public required string Type { get; init; }
    public string? JobId { get; init; }
    public string? SubmissionId { get; init; }
    /// <summary>PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED.</summary>
    public required string Status { get; init; }
    public string? Message { get; init; }
    public string? ErrorType { get; init; }
    /// <summary>Epoch ms; null or 0 when not started.</summary>
    public long? StartTime { get; init; }
    public long? EndTime { get; init; }
    public int? DriverExitCode { get; init; }
}

public static class RayJobStatus
{
    public const string Pending = "PENDING";
    public const string Running = "RUNNING";
    public const string Stopped = "STOPPED";
    public const string Succeeded = "SUCCEEDED";
    public const string Failed = "FAILED";

    public static bool IsTerminal(string status) => status is Stopped or Succeeded or Failed;
}
