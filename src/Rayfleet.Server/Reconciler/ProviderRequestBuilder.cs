using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;
using Rayfleet.Server.Providers;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Server.Reconciler;

/// <summary>
/// Resolves everything a provider needs into the request it is handed, so that providers depend on that request and
/// their own options only: release versions and GPU types from the catalogues, volumes and the network service from
/// the store, the Redis password decrypted.
/// </summary>
public sealed class ProviderRequestBuilder(RayfleetDbContext db, Catalogs catalogs, IDataProtectionProvider protection)
{
    public async Task<ProviderClusterRequest> BuildAsync(
        ClusterRow row, ClusterSpec runSpec, IReadOnlyDictionary<string, int> granted, ReleaseVersion release, CancellationToken ct)
    {
        var (head, groups) = Nodes(runSpec, release, catalogs);
        return new ProviderClusterRequest(row.WorkspaceId, row.Id, row.InstanceId!, runSpec, granted, release)
        {
            Head = head,
            Groups = groups,
            RedisPassword = RedisPassword(runSpec, protection),
            Volumes = await VolumesAsync(row.WorkspaceId, runSpec, ct),
            NetworkService = await NetworkServiceAsync(row.WorkspaceId, runSpec, ct),
            Job = row.JobId is null ? null : await JobAsync(row.JobId, ct),
        };
    }

    /// <summary>The job a job-mode cluster exists for, as a provider that runs it with the cluster (a KubeRay RayJob) needs it.</summary>
    private async Task<ProviderJob?> JobAsync(string jobId, CancellationToken ct)
    {
        var job = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == jobId, ct);
        if (job is null) return null;
        var spec = JobSubmissions.Spec(job);
        return new ProviderJob(
            JobSubmissions.For(job),
            spec.SubmissionMode ?? Core.Jobs.SubmissionModes.Http,
            spec.ShutdownAfterJobFinishes ?? true,
            spec.TtlSecondsAfterFinished,
            spec.ActiveDeadlineSeconds);
    }

    /// <summary>
    /// The head's and each worker group's release and GPU type. A head or group runs its own
    /// <c>displayReleaseVersion</c> when the catalogue still lists it, else the cluster's; a GPU type no longer in the
    /// catalogue gives nodes without GPUs.
    /// </summary>
    public static (ProviderNodeGroup Head, IReadOnlyDictionary<string, ProviderNodeGroup> Groups) Nodes(
        ClusterSpec spec, ReleaseVersion release, Catalogs catalogs)
    {
        ProviderNodeGroup Resolve(string? displayReleaseVersion, string? gpuSpec) => new(
            displayReleaseVersion is null ? release : catalogs.FindRelease(displayReleaseVersion) ?? release,
            gpuSpec is not null && catalogs.GpuTypes.TryGetValue(gpuSpec, out var gpu)
                ? new ProviderGpuType(gpu.InstanceType, gpu.GpuCount, new Dictionary<string, string>(gpu.NodeLabels, StringComparer.Ordinal))
                : null);

        return (Resolve(spec.Head.DisplayReleaseVersion, spec.Head.GpuSpec),
            spec.Workers.ToDictionary(g => g.GroupName, g => Resolve(g.DisplayReleaseVersion, g.GpuSpec), StringComparer.Ordinal));
    }

    /// <summary>The Redis password of GCS fault tolerance in clear; <see cref="ProviderSecret.Unreadable"/> when its key is gone.</summary>
    public static ProviderSecret? RedisPassword(ClusterSpec spec, IDataProtectionProvider protection)
    {
        if (spec.Head.GftEnabled != true) return null;
        try
        {
            return ClusterSecrets.UnprotectRedisPassword(spec, protection) is { } password ? ProviderSecret.Of(password) : null;
        }
        catch (CryptographicException)
        {
            // The provider says so in the cluster's status: it is the user who can set a new password.
            return ProviderSecret.Unreadable;
        }
    }

    private async Task<IReadOnlyList<ProviderVolume>> VolumesAsync(string workspaceId, ClusterSpec spec, CancellationToken ct)
    {
        if (spec.VolumeIds.IsEmpty) return [];
        var ids = spec.VolumeIds.ToList();
        var rows = await db.Volumes.AsNoTracking().Where(v => v.WorkspaceId == workspaceId && ids.Contains(v.Id)).ToListAsync(ct);
        // A volume deleted since the spec was validated is left out rather than failing the pass.
        return [.. ids.Select(id => rows.FirstOrDefault(r => r.Id == id)).Where(r => r is not null)
            .Select(r => new ProviderVolume(r!.Id, r.Name, r.Kind, r.Source, r.MountPath))];
    }

    private async Task<ProviderNetworkService?> NetworkServiceAsync(string workspaceId, ClusterSpec spec, CancellationToken ct)
    {
        if (spec.NetworkServiceName is not { } name) return null;
        var row = await db.NetworkServices.AsNoTracking().FirstOrDefaultAsync(n => n.WorkspaceId == workspaceId && n.Name == name, ct);
        return row is null
            ? null
            : new ProviderNetworkService(row.Id, row.Name, row.VpcId, JsonSerializer.Deserialize(row.VswitchIdsJson, WireJson.Default.ListString) ?? [], row.SecurityGroupId);
    }
}
