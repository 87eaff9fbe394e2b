using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rayfleet.RayStandIn;

/// <summary>Where the head's jobs run and what they are told; see README.md.</summary>
internal sealed record JobSettings(string NodeIp, int GcsPort, int AgentPort, string LogDir, TimeSpan AgentDelay);

/// <summary>
/// Ray's Job Submission REST API on the head's dashboard port (dashboard/modules/job/job_head.py with the head's job
/// agent and job manager behind it), answering with Ray's routes, JSON and error texts. Each job's entrypoint really
/// runs, as <c>/bin/sh -c</c> in a session of its own, with its stdout and stderr as the job's log.
/// </summary>
internal sealed class JobSubmission(JobSettings settings)
{
    // parent pid, log file, entrypoint. Like Ray's job supervisor, a watcher kills the job's process group once its
    // parent (the stand-in) is gone, so that a SIGKILLed head leaves no job behind.
    private const string Launcher =
        "parent=$1; log=$2; shift 2\n" +
        "exec </dev/null >>\"$log\" 2>&1\n" +
        "( while kill -0 \"$parent\" 2>/dev/null; do sleep 1; done; kill -9 -$$ ) >/dev/null 2>&1 &\n" +
        "exec /bin/sh -c \"$1\"\n";

    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(3); // Ray's DEFAULT_RAY_JOB_STOP_WAIT_TIME_S

    private readonly Lock _gate = new();
    private readonly List<Job> _jobs = [];
    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private readonly string _nodeId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(28));
    private readonly string _session = $"session_{DateTime.UtcNow:yyyy-MM-dd_HH-mm-ss_ffffff}_{Environment.ProcessId}";

    private sealed class Job
    {
        public required string SubmissionId { get; init; }
        public required string Entrypoint { get; init; }
        public JsonNode? RuntimeEnv { get; init; }
        public JsonNode? Metadata { get; init; }
        public required string LogPath { get; init; }
        public string Status { get; set; } = "PENDING";
        public string? Message { get; set; }
        public string? ErrorType { get; set; }
        public long StartTime { get; init; }
        public long? EndTime { get; set; }
        public int? DriverExitCode { get; set; }
        public Process? Process { get; set; }
        public bool StopRequested { get; set; }
        public bool Deleted { get; set; }
    }

    public HttpResponse Handle(HttpRequest request)
    {
        var (method, path) = (request.Method, request.Path);
        if (path == "/api/gcs_healthz") return Only(method, "GET") ?? new HttpResponse(200, "success");
        if (path == "/api/version")
            return Only(method, "GET") ?? HttpResponse.Json(Json(new JsonObject
            {
                ["version"] = "1",
                ["ray_version"] = Environment.GetEnvironmentVariable("RAYFLEET_STANDIN_RAY_VERSION") ?? "2.44.1",
                ["ray_commit"] = "stand-in",
                ["session_name"] = _session,
            }));
        if (path == "/api/jobs/")
            return method switch
            {
                "POST" => Submit(request.Body),
                "GET" => List(),
                _ => MethodNotAllowed(),
            };
        if (!path.StartsWith("/api/jobs/", StringComparison.Ordinal)) return new HttpResponse(404, "404: Not Found");

        var rest = path["/api/jobs/".Length..].Split('/');
        var id = Uri.UnescapeDataString(rest[0]);
        return rest switch
        {
            [_] => method switch
            {
                "GET" => WithJob(id, job => HttpResponse.Json(Json(Details(job)))),
                "DELETE" => WithJob(id, Delete),
                _ => MethodNotAllowed(),
            },
            [_, "stop"] => Only(method, "POST") ?? WithJob(id, Stop),
            [_, "logs"] => Only(method, "GET") ?? WithJob(id, job => HttpResponse.Json(Json(new JsonObject { ["logs"] = ReadLog(job) }))),
            _ => new HttpResponse(404, "404: Not Found"),
        };
    }

    /// <summary>The head is going away: every running job is stopped (SIGTERM, then SIGKILL) before it exits.</summary>
    public void StopAll(TimeSpan wait)
    {
        List<Job> running;
        lock (_gate) running = [.. _jobs.Where(j => j.Process is not null && !IsTerminal(j.Status))];
        foreach (var job in running)
        {
            job.StopRequested = true;
            Signal(job, SigTerm);
        }
        var deadline = Stopwatch.StartNew();
        foreach (var job in running)
        {
            var left = wait - deadline.Elapsed;
            if (left <= TimeSpan.Zero || !job.Process!.WaitForExit(left)) Signal(job, SigKill);
        }
        foreach (var job in running)
        {
            job.Process!.WaitForExit(TimeSpan.FromSeconds(1));
            Finish(job);
        }
    }

    private HttpResponse Submit(byte[] body)
    {
        JsonObject request;
        try
        {
            // aiohttp's req.json() fails outside the handler's try: a 500, not a 400.
            request = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("the body is not a JSON object");
        }
        catch (JsonException ex)
        {
            return new HttpResponse(500, $"500 Internal Server Error\n\nServer got itself in trouble\n(Ray stand-in: json.decoder.JSONDecodeError: {ex.Message})");
        }
        // parse_and_validate_request drops null values so that newer clients' optional fields pass.
        foreach (var key in request.Where(p => p.Value is null).Select(p => p.Key).ToList()) request.Remove(key);
        if (Validate(request) is { } problem) return Traceback(400, "TypeError: " + problem);

        if (_sinceStart.Elapsed < settings.AgentDelay)
            return new HttpResponse(500, "No available agent to submit job, please try again later.");

        var id = (string?)request["submission_id"] ?? (string?)request["job_id"] ?? "raysubmit_" + RandomId(16);
        Job job;
        lock (_gate)
        {
            if (_jobs.Any(j => j.SubmissionId == id && !j.Deleted))
                // The agent answers 400 and the head wraps it in its own 500 traceback, as Ray does.
                return Traceback(500, "RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n"
                                      + "  File \"job_agent.py\", in submit_job (Ray stand-in)\n"
                                      + $"ValueError: Job with submission_id {id} already exists. Please use a different submission_id.\n.");
            job = new Job
            {
                SubmissionId = id,
                Entrypoint = (string)request["entrypoint"]!,
                RuntimeEnv = request["runtime_env"]?.DeepClone(),
                Metadata = request["metadata"]?.DeepClone(),
                LogPath = Path.Combine(settings.LogDir, $"job-driver-{SafeName(id)}.log"),
                StartTime = NowMs(),
            };
            _jobs.Add(job);
        }
        Start(job);
        return HttpResponse.Json(Json(new JsonObject { ["job_id"] = id, ["submission_id"] = id }));
    }

    /// <summary>JobSubmitRequest's own checks (common.py): unknown fields, a missing entrypoint, mistyped values.</summary>
    private static string? Validate(JsonObject r)
    {
        string[] known = ["entrypoint", "submission_id", "job_id", "runtime_env", "metadata", "entrypoint_num_cpus",
            "entrypoint_num_gpus", "entrypoint_memory", "entrypoint_resources", "entrypoint_label_selector"];
        if (r.Select(p => p.Key).FirstOrDefault(k => !known.Contains(k)) is { } unknown)
            return $"JobSubmitRequest.__init__() got an unexpected keyword argument '{unknown}'";
        if (!r.ContainsKey("entrypoint")) return "JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'";
        if (Kind(r["entrypoint"]) != JsonValueKind.String) return $"entrypoint must be a string, got {PyType(r["entrypoint"])}";
        foreach (var name in new[] { "submission_id", "job_id" })
            if (r.ContainsKey(name) && Kind(r[name]) != JsonValueKind.String) return $"{name} must be a string if provided, got {PyType(r[name])}";
        if (r["runtime_env"] is { } env)
        {
            if (env is not JsonObject envObject) return $"runtime_env must be a dict, got {PyType(env)}";
            if (envObject["env_vars"] is { } vars && (vars is not JsonObject varsObject || varsObject.Any(v => Kind(v.Value) != JsonValueKind.String)))
                return "runtime_env['env_vars'] must be of type Dict[str, str]";
            if (envObject["working_dir"] is { } dir && Kind(dir) != JsonValueKind.String)
                return $"working_dir must be a string, got {PyType(dir)}";
        }
        if (r["metadata"] is { } metadata)
        {
            if (metadata is not JsonObject metadataObject) return $"metadata must be a dict, got {PyType(metadata)}";
            if (metadataObject.FirstOrDefault(v => Kind(v.Value) != JsonValueKind.String) is { Key: not null } bad)
                return $"metadata values must be strings, got {PyType(bad.Value)}";
        }
        foreach (var name in new[] { "entrypoint_num_cpus", "entrypoint_num_gpus" })
            if (r.ContainsKey(name) && !IsNumber(r[name])) return $"{name} must be a number, got {PyType(r[name])}";
        if (r.ContainsKey("entrypoint_memory") && !(IsNumber(r["entrypoint_memory"]) && IsInteger(r["entrypoint_memory"]!)))
            return $"entrypoint_memory must be an integer, got {PyType(r["entrypoint_memory"])}";
        if (r["entrypoint_resources"] is { } resources)
        {
            if (resources is not JsonObject resourcesObject) return $"entrypoint_resources must be a dict, got {PyType(resources)}";
            if (resourcesObject.FirstOrDefault(v => !IsNumber(v.Value)) is { Key: not null } bad)
                return $"entrypoint_resources values must be numbers, got {PyType(bad.Value)}";
        }
        return null;
    }

    private void Start(Job job)
    {
        var env = job.RuntimeEnv as JsonObject;
        string? cwd = null;
        if (env?["working_dir"] is { } dir)
        {
            cwd = (string)dir!;
            if (!Directory.Exists(cwd))
            {
                // Ray's runtime env agent fails the job before any driver runs.
                lock (_gate)
                {
                    job.Status = "FAILED";
                    job.ErrorType = "RUNTIME_ENV_SETUP_FAILED";
                    job.Message = $"Job failed due to runtime environment setup failure: working_dir '{cwd}' is not a local directory (the Ray stand-in fetches no URIs).";
                    job.EndTime = NowMs();
                }
                return;
            }
        }
        Directory.CreateDirectory(settings.LogDir);
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, WorkingDirectory = cwd ?? "" };
        foreach (var a in new[] { "/bin/sh", "-c", Launcher, "ray-job", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), job.LogPath, job.Entrypoint })
            start.ArgumentList.Add(a);
        start.Environment["RAY_ADDRESS"] = $"{settings.NodeIp}:{settings.GcsPort}";
        start.Environment["PYTHONUNBUFFERED"] = "1";
        if (env?["env_vars"] is JsonObject vars)
            foreach (var (key, value) in vars)
                start.Environment[key] = (string)value!;
        try
        {
            var process = Process.Start(start) ?? throw new InvalidOperationException("no process started");
            lock (_gate)
            {
                job.Process = process;
                job.Status = "RUNNING";
            }
            _ = process.WaitForExitAsync().ContinueWith(_ => Finish(job), TaskScheduler.Default);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            lock (_gate)
            {
                job.Status = "FAILED";
                job.ErrorType = "JOB_SUPERVISOR_ACTOR_START_FAILURE";
                job.Message = $"Failed to start the job's entrypoint: {ex.Message}";
                job.EndTime = NowMs();
            }
        }
    }

    private void Finish(Job job)
    {
        var process = job.Process!;
        if (!process.HasExited) return;
        // Whatever the entrypoint left in its session (the watcher, background children) goes with it.
        Signal(job, SigKill);
        lock (_gate)
        {
            if (IsTerminal(job.Status)) return;
            job.EndTime = NowMs();
            if (job.StopRequested)
            {
                job.Status = "STOPPED";
                job.Message = "Job was intentionally stopped.";
                return;
            }
            var code = process.ExitCode;
            job.DriverExitCode = code;
            if (code == 0)
            {
                job.Status = "SUCCEEDED";
                job.Message = "Job finished successfully.";
                return;
            }
            job.Status = "FAILED";
            job.ErrorType = "JOB_ENTRYPOINT_COMMAND_ERROR";
            var tail = Tail(job.LogPath, 20_000);
            job.Message = $"Job entrypoint command failed with exit code {code}. "
                          + (tail.Length > 0 ? "Last available logs (truncated to 20,000 chars):\n" + tail : "No logs available.");
        }
    }

    private HttpResponse Stop(Job job)
    {
        bool running;
        lock (_gate)
        {
            // Ray answers true while the job's supervisor lives, that is until its driver has exited.
            running = !IsTerminal(job.Status) && job.Process is { HasExited: false };
            if (running) job.StopRequested = true;
        }
        if (running)
        {
            Signal(job, SigTerm);
            _ = Task.Run(async () =>
            {
                using var wait = new CancellationTokenSource(StopWait);
                try
                {
                    await job.Process!.WaitForExitAsync(wait.Token);
                }
                catch (OperationCanceledException)
                {
                    Signal(job, SigKill);
                }
            });
        }
        return HttpResponse.Json(Json(new JsonObject { ["stopped"] = running }));
    }

    private HttpResponse Delete(Job job)
    {
        lock (_gate)
        {
            if (!IsTerminal(job.Status))
                return Traceback(500, "RuntimeError: Request failed with status code 500: Traceback (most recent call last):\n"
                                      + "  File \"job_agent.py\", in delete_job (Ray stand-in)\n"
                                      + $"RuntimeError: Attempted to delete job '{job.SubmissionId}', but it is in a non-terminal state {job.Status}.\n.", "delete_job");
            job.Deleted = true;
        }
        return HttpResponse.Json(Json(new JsonObject { ["deleted"] = true }));
    }

    private HttpResponse List()
    {
        List<Job> jobs;
        lock (_gate) jobs = [.. _jobs.Where(j => !j.Deleted)];
        var array = new JsonArray();
        foreach (var job in jobs) array.Add(Details(job));
        return HttpResponse.Json(Json(array));
    }

    private HttpResponse WithJob(string id, Func<Job, HttpResponse> then)
    {
        Job? job;
        lock (_gate) job = _jobs.LastOrDefault(j => j.SubmissionId == id && !j.Deleted);
        return job is null ? new HttpResponse(404, $"Job {id} does not exist") : then(job);
    }

    /// <summary>JobDetails as Ray's pydantic model writes it: every field, nulls included.</summary>
    private JsonObject Details(Job job)
    {
        lock (_gate)
        {
            var started = job.Process is not null;
            return new JsonObject
            {
                ["type"] = "SUBMISSION",
                // An entrypoint that never calls ray.init() has no Ray driver, hence no job id or driver info.
                ["job_id"] = null,
                ["submission_id"] = job.SubmissionId,
                ["driver_info"] = null,
                ["status"] = job.Status,
                ["entrypoint"] = job.Entrypoint,
                ["message"] = job.Message ?? DefaultMessage(job.Status),
                ["error_type"] = job.ErrorType,
                ["start_time"] = job.StartTime,
                ["end_time"] = job.EndTime,
                ["metadata"] = job.Metadata?.DeepClone() ?? new JsonObject(),
                ["runtime_env"] = job.RuntimeEnv?.DeepClone() ?? new JsonObject(),
                ["driver_agent_http_address"] = started ? $"http://{settings.NodeIp}:{settings.AgentPort}" : null,
                ["driver_node_id"] = started ? _nodeId : null,
                ["driver_exit_code"] = job.DriverExitCode,
            };
        }
    }

    private static string DefaultMessage(string status) => status switch
    {
        "PENDING" => "Job has not started yet.",
        "RUNNING" => "Job is currently running.",
        "STOPPED" => "Job was intentionally stopped.",
        "SUCCEEDED" => "Job finished successfully.",
        _ => "Job failed.",
    };

    private static string ReadLog(Job job)
    {
        try
        {
            using var stream = new FileStream(job.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    private static string Tail(string path, int chars)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.Length > chars ? text[^chars..] : text;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    private static HttpResponse? Only(string method, string allowed) => method == allowed ? null : MethodNotAllowed();

    private static HttpResponse MethodNotAllowed() => new(405, "405: Method Not Allowed");

    private static HttpResponse Traceback(int status, string error, string handler = "submit_job") =>
        new(status, $"Traceback (most recent call last):\n  File \"job_head.py\", in {handler} (Ray stand-in, not Ray)\n{error}\n");

    private static bool IsTerminal(string status) => status is "STOPPED" or "SUCCEEDED" or "FAILED";

    private static JsonValueKind Kind(JsonNode? node) => node?.GetValueKind() ?? JsonValueKind.Null;

    // Python's bool is an int, so Ray's isinstance checks let true and false pass as numbers.
    private static bool IsNumber(JsonNode? node) => Kind(node) is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False;

    private static bool IsInteger(JsonNode node) =>
        Kind(node) != JsonValueKind.Number || long.TryParse(node.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);

    private static string PyType(JsonNode? node) => Kind(node) switch
    {
        JsonValueKind.String => "<class 'str'>",
        JsonValueKind.Number => node!.ToJsonString().Contains('.', StringComparison.Ordinal) ? "<class 'float'>" : "<class 'int'>",
        JsonValueKind.True or JsonValueKind.False => "<class 'bool'>",
        JsonValueKind.Array => "<class 'list'>",
        JsonValueKind.Object => "<class 'dict'>",
        _ => "<class 'NoneType'>",
    };

    // Ray's json.dumps leaves <, > and & alone.
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Json(JsonNode node) => node.ToJsonString(Relaxed);

    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static string RandomId(int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        });
    }

    private static string SafeName(string id) =>
        string.Concat(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    private const int SigKill = 9;
    private const int SigTerm = 15;

    /// <summary>Signals the job's process group (its launcher made itself the leader of a new session).</summary>
    private static void Signal(Job job, int signal)
    {
        if (job.Process is { } p && p.Id > 1) _ = kill(-p.Id, signal);
    }

    // Two ints need no marshalling; LibraryImport would need unsafe code in the project.
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int kill(int pid, int sig);
}
