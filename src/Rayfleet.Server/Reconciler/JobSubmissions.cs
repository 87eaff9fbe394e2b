using System.Text.Json;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Reconciler;

/// <summary>What Ray is asked to run for a stored job: its request, parsed by the same rules that accepted it.</summary>
public static class JobSubmissions
{
    public static SubmitRayJobRequest Spec(JobRow job) => JsonSerializer.Deserialize(job.SpecJson, WireJson.Default.SubmitRayJobRequest)!;

    public static RayJobSubmission For(JobRow job)
    {
        var spec = Spec(job);
        var (entry, problems) = JobRules.Validate(spec);
        if (entry is null)
            throw new InvalidOperationException($"Stored job {job.Id} no longer passes the job rules: {string.Join("; ", problems.Select(p => p.Message))}");
        return new RayJobSubmission
        {
            SubmissionId = job.Id,
            Entrypoint = entry.Entrypoint,
            RuntimeEnvJson = entry.RuntimeEnvJson,
            Metadata = entry.Metadata,
            EntrypointNumCpus = entry.NumCpus,
            EntrypointNumGpus = entry.NumGpus,
            EntrypointMemory = entry.MemoryBytes,
            EntrypointResources = entry.Resources,
            ExtraParam = spec.ExtraParam,
        };
    }
}
