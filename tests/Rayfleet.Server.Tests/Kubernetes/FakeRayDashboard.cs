using System.Globalization;
using System.Text.Json.Nodes;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Ray's Job Submission API of one head, as the fake API server's service proxy reaches it: the routes and answers of
/// shared/reference/ray-jobs.md (the duplicate submission's 500, "No available agent" while <see cref="AgentReady"/> is
/// false, Ray's 404 text for an unknown id). A submitted job runs at once; a test ends it with <see cref="Finish"/>.
/// </summary>
public sealed class FakeRayDashboard
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Job> _jobs = new(StringComparer.Ordinal);

    public sealed class Job
    {
        public required string SubmissionId { get; init; }
        public required JsonObject Body { get; init; }
        public string Status { get; set; } = "RUNNING";
        public string Message { get; set; } = "Job is currently running.";
        public string Log { get; set; } = "";
        public long StartTime { get; set; }
        public long? EndTime { get; set; }
        public bool StopRequested { get; set; }
    }

    /// <summary>False: the head's dashboard agent is not up yet, and a submit answers 500 "No available agent".</summary>
    public bool AgentReady { get; set; } = true;

    /// <summary>Submits that reached Ray, duplicates included.</summary>
    public int Submits { get; private set; }

    /// <summary>Submits that Ray took as a new job (a duplicate submission id is refused and runs nothing).</summary>
    public int Accepted { get; private set; }

    public Job? Get(string id)
    {
        lock (_lock) return _jobs.GetValueOrDefault(id);
    }

    public IReadOnlyList<Job> Jobs
    {
        get
        {
            lock (_lock) return [.. _jobs.Values];
        }
    }

    /// <summary>Submits as a submitter would (K8sJobMode's pod, SidecarMode's container, HTTPMode's operator).</summary>
    public (int Status, string Body) Submit(JsonObject body)
    {
        lock (_lock)
        {
            Submits++;
            if (!AgentReady) return (500, "No available agent to submit job, please try again later.");
            var id = body["submission_id"]?.GetValue<string>() ?? "raysubmit_" + Guid.NewGuid().ToString("N")[..16];
            if (_jobs.ContainsKey(id))
                return (500, $"Traceback ...\nValueError: Job with submission_id {id} already exists. Please use a different submission_id.");
            var entrypoint = body["entrypoint"]?.GetValue<string>() ?? "";
            Accepted++;
            _jobs[id] = new Job
            {
                SubmissionId = id,
                Body = (JsonObject)body.DeepClone(),
                StartTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                Log = $"running {entrypoint}\n",
            };
            return (200, new JsonObject { ["job_id"] = "02000000", ["submission_id"] = id }.ToJsonString());
        }
    }

    /// <summary>Ends a job as Ray would: SUCCEEDED, FAILED (with a message) or STOPPED.</summary>
    public void Finish(string id, string status, string? message = null, string? log = null)
    {
        lock (_lock)
        {
            var job = _jobs[id];
            job.Status = status;
            job.Message = message ?? status switch
            {
                "SUCCEEDED" => "Job finished successfully.",
                "STOPPED" => "Job was intentionally stopped.",
                _ => "Job entrypoint command failed with exit code 3",
            };
            if (log is not null) job.Log += log;
            job.EndTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        }
    }

    private static bool Terminal(string status) => status is "SUCCEEDED" or "FAILED" or "STOPPED";

    /// <summary>One request under the proxy's <c>.../proxy/</c>: <paramref name="path"/> like <c>api/jobs/x/logs</c>.</summary>
    public (int Status, string Body) Handle(string method, string path, string body)
    {
        var parts = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        lock (_lock)
        {
            switch (method, parts)
            {
                case ("POST", ["api", "jobs"]):
                    return Submit(JsonNode.Parse(body)!.AsObject());
                case ("GET", ["api", "jobs"]):
                    return (200, new JsonArray([.. _jobs.Values.Select(j => (JsonNode)Details(j))]).ToJsonString());
                case ("GET", ["api", "jobs", var id]):
                    return _jobs.TryGetValue(Uri.UnescapeDataString(id), out var job) ? (200, Details(job).ToJsonString()) : NotFound(id);
                case ("GET", ["api", "jobs", var id, "logs"]):
                    return _jobs.TryGetValue(Uri.UnescapeDataString(id), out var logged) ? (200, new JsonObject { ["logs"] = logged.Log }.ToJsonString()) : NotFound(id);
                case ("POST", ["api", "jobs", var id, "stop"]):
                {
                    if (!_jobs.TryGetValue(Uri.UnescapeDataString(id), out var stopped)) return NotFound(id);
                    stopped.StopRequested = true;
                    if (Terminal(stopped.Status)) return (200, "{\"stopped\": false}");
                    stopped.Status = "STOPPED";
                    stopped.Message = "Job was intentionally stopped.";
                    stopped.EndTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    return (200, "{\"stopped\": true}");
                }
                default:
                    return (404, "404: Not Found");
            }
        }
    }

    private static (int, string) NotFound(string id) => (404, $"Job {Uri.UnescapeDataString(id)} does not exist");

    private static JsonObject Details(Job j) => new()
    {
        ["type"] = "SUBMISSION",
        ["job_id"] = "02000000",
        ["submission_id"] = j.SubmissionId,
        ["status"] = j.Status,
        ["entrypoint"] = j.Body["entrypoint"]?.DeepClone(),
        ["message"] = j.Message,
        ["error_type"] = j.Status == "FAILED" ? "JOB_ENTRYPOINT_COMMAND_ERROR" : null,
        ["start_time"] = j.StartTime,
        ["end_time"] = j.EndTime,
        ["metadata"] = j.Body["metadata"]?.DeepClone() ?? new JsonObject(),
        ["runtime_env"] = j.Body["runtime_env"]?.DeepClone() ?? new JsonObject(),
        ["driver_exit_code"] = j.Status switch { "SUCCEEDED" => 0, "FAILED" => 3, _ => null },
    };

    public static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
