using System.Text.Json;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>GetRayJob and ListRayJob answers from a job row: the request echoed, the observed status, usage and log place.</summary>
public sealed class JobViews(TimeProvider time, LogStore logs)
{
    public GetRayJobResponse Detail(JobRow row, string requestId, IReadOnlyDictionary<string, string> names)
    {
        var spec = JsonSerializer.Deserialize(row.SpecJson, WireJson.Default.SubmitRayJobRequest)!;
        var usage = new Usage(row.UsageCuMs, row.UsageGpuMs);
        return new GetRayJobResponse
        {
            RequestId = requestId,
            SubmissionId = row.Id,
            Name = row.Name,
            Status = ShownStatus(row.CancelRequested, row.Status),
            ClusterState = row.ClusterState,
            Message = row.Message ?? "",
            Entrypoint = spec.Entrypoint,
            EntrypointMemory = spec.EntrypointMemory,
            EntrypointNumCpus = spec.EntrypointNumCpus,
            EntrypointNumGpus = spec.EntrypointNumGpus,
            EntrypointResources = spec.EntrypointResources,
            WorkingDir = spec.WorkingDir,
            RuntimeEnvJson = spec.RuntimeEnvJson,
            MetadataJson = spec.MetadataJson,
            ExtraParam = spec.ExtraParam,
            DisplayReleaseVersion = spec.DisplayReleaseVersion ?? spec.HeadSpec?.DisplayReleaseVersion,
            NetworkServiceName = spec.NetworkServiceName,
            SubmissionMode = spec.SubmissionMode ?? SubmissionModes.Http,
            ActiveDeadlineSeconds = spec.ActiveDeadlineSeconds,
            BackoffLimit = 0,
            ShutdownAfterJobFinishes = spec.ShutdownAfterJobFinishes ?? true,
            TtlSecondsAfterFinished = spec.TtlSecondsAfterFinished,
            SubmitTime = row.SubmitTime,
            StartTime = row.StartTime,
            EndTime = row.EndTime,
            Duration = DurationSeconds(row.StartTime, row.EndTime),
            CuHours = usage.CuHours,
            GuHours = row.GpuSpec is null ? new GuHoursDto() : new GuHoursDto { GpuHours = usage.GpuHours, GpuSpec = row.GpuSpec },
            DashboardUrl = row.DashboardUrl,
            LogBucketName = logs.BucketName,
            LogPath = logs.JobPrefix(row.WorkspaceId, row.Id),
            CreatorName = Name(names, row.Creator),
            Tags = [.. (spec.Tags ?? []).Where(t => t is not null).Select(t => t!)],
            VolumeIds = [.. (spec.VolumeIds ?? []).Where(v => v is not null).Select(v => v!)],
            HeadSpec = spec.HeadSpec is { } h ? h with { Replica = 1 } : null,
            WorkerSpecs = [.. (spec.WorkerSpec ?? []).Where(w => w is not null).Select(w => w! with { WorkerType = null })],
            ClusterId = row.ClusterId,
        };
    }

    /// <summary>What a ListRayJob item needs of a row: never the request, which may be about 100 KiB.</summary>
    public sealed record ListRow(
        string Id, string Name, string ClusterId, string? QueueName, long SubmitTime, bool CancelRequested, string? Creator,
        string Status, string ClusterState, long? StartTime, long? EndTime, decimal UsageCuMs, string? DashboardUrl);

    public RayJobSummaryDto Summary(ListRow row, IReadOnlyDictionary<string, string> names) => new()
    {
        SubmissionId = row.Id,
        Name = row.Name,
        Status = ShownStatus(row.CancelRequested, row.Status),
        ClusterState = row.ClusterState,
        CreatorName = Name(names, row.Creator),
        CuHours = new Usage(row.UsageCuMs, 0).CuHours,
        DashboardUrl = row.DashboardUrl,
        Duration = DurationSeconds(row.StartTime, row.EndTime),
        SubmitTime = row.SubmitTime,
        StartTime = row.StartTime,
        EndTime = row.EndTime,
        ResourceQueue = row.QueueName,
        ClusterId = row.ClusterId,
    };

    /// <summary>A cancel is shown at once, before the reconciler acted on it (as a cluster's Stop shows Stopping).</summary>
    public static string ShownStatus(bool cancelRequested, string status) =>
        cancelRequested && !JobStatus.IsTerminal(status) ? JobStatus.Cancelling : status;

    /// <summary>Seconds from the start of the entrypoint to its end, or to now while it runs; 0 before it starts.</summary>
    private long DurationSeconds(long? startTime, long? endTime) =>
        startTime is { } start ? Math.Max(0, ((endTime ?? time.GetUtcNow().ToUnixTimeMilliseconds()) - start) / 1000) : 0;

    private static string? Name(IReadOnlyDictionary<string, string> names, string? id) => id is not null && names.TryGetValue(id, out var n) ? n : null;
}
