using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Jobs;

/// <summary>What Ray is asked to run for a job, parsed once from the SubmitRayJob request (ray-jobs.md, submit body).</summary>
public sealed record JobEntrypoint
{
    public required string Entrypoint { get; init; }
    /// <summary>Ray's runtime_env as a JSON object, <c>workingDir</c> folded in as <c>working_dir</c>; null when empty.</summary>
    public string? RuntimeEnvJson { get; init; }
    public ImmutableDictionary<string, string>? Metadata { get; init; }
    public double? NumCpus { get; init; }
    public double? NumGpus { get; init; }
    public long? MemoryBytes { get; init; }
    public ImmutableDictionary<string, double>? Resources { get; init; }
}

/// <summary>
/// Rules of SubmitRayJob (semantics.md's request rules, extended to jobs; README, "Ray jobs"). A job either names an
/// existing cluster (<c>clusterId</c>) or describes the cluster to create for it (<c>headSpec</c>, <c>workerSpec</c>,
/// and the cluster-wide fields), which goes through <see cref="ClusterRules"/> like CreateRayCluster.
/// </summary>
public static class JobRules
{
    public const int MaxEntrypointLength = 16_384;
    public const int MaxRuntimeEnvBytes = 65_536;
    public const int MaxMetadataBytes = 16_384;
    public const int MaxWorkingDirLength = 2_048;
    public const int MaxTags = 20;
    public const int MaxTagLength = 128;
    public const int MaxActiveDeadlineSeconds = 30 * 86_400;
    public const int MaxTtlSecondsAfterFinished = 7 * 86_400;

    /// <summary>Checks the job's own fields; the cluster half is checked by <see cref="ClusterRequestOf"/> + <see cref="ClusterRules"/>.</summary>
    public static (JobEntrypoint? Entrypoint, IReadOnlyList<Problem> Problems) Validate(SubmitRayJobRequest request)
    {
        var problems = new List<Problem>();

        if (request.Name is { } name)
        {
            if (name.Length is < 1 or > 64) problems.Add(Invalid("name", "must be 1 to 64 characters"));
            else if (name.Any(char.IsControl)) problems.Add(Invalid("name", "must not contain control characters"));
        }

        if (string.IsNullOrWhiteSpace(request.Entrypoint)) problems.Add(new Problem(ErrorCodes.Missing("entrypoint"), "entrypoint", "entrypoint is required."));
        else if (request.Entrypoint.Length > MaxEntrypointLength) problems.Add(Invalid("entrypoint", $"must be at most {MaxEntrypointLength} characters"));
        else if (request.Entrypoint.Contains('\0')) problems.Add(Invalid("entrypoint", "must not contain NUL characters"));

        if (request.WorkingDir is { } dir && (dir.Length is 0 or > MaxWorkingDirLength || dir.Any(char.IsControl)))
            problems.Add(Invalid("workingDir", $"must be a URL or path of 1 to {MaxWorkingDirLength} characters without control characters"));

        var runtimeEnv = ParseObject(request.RuntimeEnvJson, "runtimeEnvJson", MaxRuntimeEnvBytes, problems);
        if (runtimeEnv is not null && request.WorkingDir is { } wd && runtimeEnv["working_dir"] is { } existing
            && existing.GetValueKind() == JsonValueKind.String && existing.GetValue<string>() != wd)
            problems.Add(Invalid("workingDir", "differs from runtimeEnvJson's working_dir; give it in one place"));

        var metadataNode = ParseObject(request.MetadataJson, "metadataJson", MaxMetadataBytes, problems);
        ImmutableDictionary<string, string>? metadata = null;
        if (metadataNode is not null)
        {
            if (metadataNode.Any(kv => kv.Value is null || kv.Value.GetValueKind() != JsonValueKind.String))
                problems.Add(Invalid("metadataJson", "must be a JSON object of string values (Ray's job metadata)"));
            else metadata = metadataNode.ToImmutableDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>(), StringComparer.Ordinal);
        }

        var cpus = Number(request.EntrypointNumCpus, "entrypointNumCpus", problems);
        var gpus = Number(request.EntrypointNumGpus, "entrypointNumGpus", problems);
        long? memory = null;
        if (request.EntrypointMemory is { } mem)
        {
            memory = Quantity.ParseMemoryBytes(mem);
            if (memory is null) problems.Add(Invalid("entrypointMemory", $"{ClusterRules.Shown(mem)} is not a positive memory quantity (such as \"4Gi\")"));
        }

        ImmutableDictionary<string, double>? resources = null;
        var resourcesNode = ParseObject(request.EntrypointResources, "entrypointResources", MaxMetadataBytes, problems);
        if (resourcesNode is not null)
        {
            if (resourcesNode.Any(kv => kv.Value is null || kv.Value.GetValueKind() != JsonValueKind.Number || kv.Value.GetValue<double>() < 0 || kv.Key.Length == 0))
                problems.Add(Invalid("entrypointResources", "must be a JSON object of resource names to non-negative numbers, such as {\"fpu\": 1}"));
            else resources = resourcesNode.ToImmutableDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal);
        }

        // The cluster's rules: size, depth, and the simulated provider's knobs (a job may carry its job-mode cluster's too).
        SimulatedJobBehaviour.Check(request.ExtraParam, problems);

        if (request.ActiveDeadlineSeconds is { } deadline && deadline is < 1 or > MaxActiveDeadlineSeconds)
            problems.Add(Invalid("activeDeadlineSeconds", $"must be between 1 and {MaxActiveDeadlineSeconds}"));
        if (request.TtlSecondsAfterFinished is { } ttl && ttl is < 0 or > MaxTtlSecondsAfterFinished)
            problems.Add(Invalid("ttlSecondsAfterFinished", $"must be between 0 and {MaxTtlSecondsAfterFinished}"));
        if (request.SubmissionMode is { } mode && !SubmissionModes.All.Contains(mode))
            problems.Add(Invalid("submissionMode", $"must be one of {string.Join(", ", SubmissionModes.All)}"));

        if (request.Tags is { } tags)
        {
            if (tags.Count > MaxTags) problems.Add(Invalid("tags", $"must have at most {MaxTags} tags, got {tags.Count}"));
            for (var i = 0; i < Math.Min(tags.Count, MaxTags); i++)
            {
                var tag = tags[i];
                if (tag?.Key is not { Length: > 0 and <= MaxTagLength } || tag.Key.Any(char.IsControl))
                    problems.Add(Invalid($"tags[{i}].key", $"must be 1 to {MaxTagLength} characters without control characters"));
                if (tag?.Value is { } v && (v.Length > MaxTagLength || v.Any(char.IsControl)))
                    problems.Add(Invalid($"tags[{i}].value", $"must be at most {MaxTagLength} characters without control characters"));
            }
        }

        if (request.ClusterId is not null)
        {
            if (request.HeadSpec is not null || request.WorkerSpec is { Count: > 0 })
                problems.Add(Invalid("clusterId", "runs the job on an existing cluster, while headSpec and workerSpec describe a new one; give one or the other"));
            if (request.VolumeIds is { Count: > 0 } || request.NetworkServiceName is not null || request.DisplayReleaseVersion is not null)
                problems.Add(Invalid("clusterId", "runs the job on an existing cluster with its own volumes, network service and release version; leave volumeIds, networkServiceName and displayReleaseVersion out"));
        }

        if (problems.Count > 0) return (null, problems);

        if (request.WorkingDir is { } workingDir)
        {
            runtimeEnv ??= [];
            runtimeEnv["working_dir"] = workingDir;
        }
        return (new JobEntrypoint
        {
            Entrypoint = request.Entrypoint!,
            RuntimeEnvJson = runtimeEnv is { Count: > 0 } ? runtimeEnv.ToJsonString() : null,
            Metadata = metadata,
            NumCpus = cpus,
            NumGpus = gpus,
            MemoryBytes = memory,
            Resources = resources,
        }, problems);
    }

    /// <summary>The CreateRayCluster request that a job without <c>clusterId</c> stands for: its own job-mode cluster.</summary>
    public static RayClusterRequest ClusterRequestOf(SubmitRayJobRequest request, string submissionId) => new()
    {
        Name = request.Name ?? submissionId,
        Description = $"Job-mode cluster of Ray job {submissionId}",
        DisplayReleaseVersion = request.DisplayReleaseVersion ?? request.HeadSpec?.DisplayReleaseVersion,
        NetworkServiceName = request.NetworkServiceName,
        ExtraParam = request.ExtraParam,
        VolumeIds = request.VolumeIds,
        HeadSpec = request.HeadSpec is not { } h ? null : new HeadSpecDto
        {
            Cpu = h.Cpu,
            Memory = h.Memory,
            QueueName = h.QueueName,
            EnableAutoScaling = h.EnableAutoScaling,
            IdleTimeoutSeconds = h.IdleTimeoutSeconds,
            GpuSpec = h.GpuSpec,
            DisplayReleaseVersion = h.DisplayReleaseVersion,
        },
        WorkerSpec = request.WorkerSpec?.Select(w => w is null ? null : new WorkerSpecDto
        {
            GroupName = w.GroupName,
            WorkerType = w.WorkerType,
            Replica = w.Replica,
            MinReplica = w.MinReplica,
            MaxReplica = w.MaxReplica,
            Cpu = w.Cpu,
            Memory = w.Memory,
            QueueName = w.QueueName,
            GpuSpec = w.GpuSpec,
            DisplayReleaseVersion = w.DisplayReleaseVersion,
        }).ToList(),
    };

    private static JsonObject? ParseObject(string? json, string field, int maxBytes, List<Problem> problems)
    {
        if (json is null) return null;
        if (System.Text.Encoding.UTF8.GetByteCount(json) > maxBytes)
        {
            problems.Add(Invalid(field, $"must be at most {maxBytes} bytes of UTF-8"));
            return null;
        }
        try
        {
            if (JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = ClusterRules.MaxExtraParamDepth }) is JsonObject obj) return obj;
        }
        catch (JsonException)
        {
        }
        problems.Add(Invalid(field, "must be a JSON object"));
        return null;
    }

    private static double? Number(string? text, string field, List<Problem> problems)
    {
        if (text is null) return null;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 0 && value <= 1_000_000)
            return value;
        problems.Add(Invalid(field, $"{ClusterRules.Shown(text)} is not a non-negative number"));
        return null;
    }

    private static Problem Invalid(string field, string rule) =>
        new(ErrorCodes.InvalidParameter, field, $"The specified parameter {field} is not valid: {rule}.");
}
