namespace Rayfleet.Core.Jobs;

/// <summary>A Ray job's <c>status</c> (emr-api.md §3.2).</summary>
public static class JobStatus
{
    public const string Submitted = "Submitted";
    public const string Pending = "Pending";
    public const string Running = "Running";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
    public const string Cancelling = "Cancelling";
    public const string Cancelled = "Cancelled";
    public const string Timeout = "Timeout";

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled or Timeout;

    /// <summary>
    /// EMR's status for what Ray reports of a job that Rayfleet submitted (ray-jobs.md: PENDING, RUNNING, STOPPED,
    /// SUCCEEDED, FAILED). A stop that Rayfleet asked for ends <see cref="Cancelled"/> or, past the deadline,
    /// <see cref="Timeout"/>; a stop nobody here asked for (someone used the dashboard) is <see cref="Cancelled"/> too.
    /// </summary>
    public static string FromRay(string rayStatus, bool stopRequested, bool deadlinePassed) => rayStatus switch
    {
        "PENDING" => stopRequested ? Cancelling : Pending,
        "RUNNING" => stopRequested ? Cancelling : Running,
        "SUCCEEDED" => Succeeded,
        "FAILED" => Failed,
        "STOPPED" => deadlinePassed ? Timeout : Cancelled,
        _ => stopRequested ? Cancelling : Pending,
    };
}

/// <summary>A Ray job's <c>clusterState</c> (emr-api.md §3.3).</summary>
public static class JobClusterState
{
    public const string Deleted = "Deleted";
    public const string Submitted = "Submitted";
    public const string Pending = "Pending";
    public const string Running = "Running";
}

/// <summary>How a job reaches Ray: <c>HTTPMode</c> everywhere; KubeRay's other modes only on Kubernetes.</summary>
public static class SubmissionModes
{
    public const string Http = "HTTPMode";
    public const string K8sJob = "K8sJobMode";
    public const string Sidecar = "SidecarMode";

    public static readonly IReadOnlyList<string> All = [Http, K8sJob, Sidecar];
}
