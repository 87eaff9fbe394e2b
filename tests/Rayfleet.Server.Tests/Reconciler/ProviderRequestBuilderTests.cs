using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Reconciler;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Reconciler;

/// <summary>What the reconciler resolves for a provider: per-group releases and GPU types, the Redis password.</summary>
public sealed class ProviderRequestBuilderTests
{
    private static ClusterSpec GpuGroupOnOldRelease => TwoGroups with
    {
        Head = TwoGroups.Head with { GpuSpec = "ecs.gn6i-c4g1.xlarge" },
        Workers =
        [
            TwoGroups.Workers[0] with { DisplayReleaseVersion = OldRelease.DisplayReleaseVersion, GpuSpec = "ecs.gn7i-2x" },
            TwoGroups.Workers[1],
        ],
    };

    [Fact]
    public void Each_group_gets_its_own_release_and_gpu_type_and_the_rest_the_clusters()
    {
        var (head, groups) = ProviderRequestBuilder.Nodes(GpuGroupOnOldRelease, Release, CaseCatalogs);

        Assert.Equal(Release, head.Release);
        Assert.Equal(1, head.GpusPerNode);
        Assert.Equal("Tesla-T4", head.Gpu!.NodeLabels["nvidia.com/gpu.product"]);
        Assert.Equal(OldRelease with { Setting = groups["WorkerGroup1"].Release.Setting }, groups["WorkerGroup1"].Release);
        Assert.StartsWith("Rayfleet:ReleaseVersions:", groups["WorkerGroup1"].Release.Setting, StringComparison.Ordinal);
        Assert.Equal(2, groups["WorkerGroup1"].GpusPerNode);
        Assert.Equal(Release, groups["small"].Release);
        Assert.Null(groups["small"].Gpu);
        Assert.Equal(0, groups["small"].GpusPerNode);
    }

    [Fact]
    public void A_release_or_gpu_type_gone_from_the_catalogue_falls_back_to_the_clusters_release_and_no_gpus()
    {
        var catalogs = new Catalogs(Options.Create(new RayfleetOptions
        {
            ReleaseVersions = [new ReleaseVersionOptions { DisplayReleaseVersion = Release.DisplayReleaseVersion, RayVersion = Release.RayVersion, PythonVersion = "3.12", Image = Release.Image, IsDefault = true }],
        }));

        var (head, groups) = ProviderRequestBuilder.Nodes(GpuGroupOnOldRelease, Release, catalogs);

        Assert.Null(head.Gpu);
        Assert.Equal(Release.DisplayReleaseVersion, groups["WorkerGroup1"].Release.DisplayReleaseVersion);
        Assert.Equal(0, groups["WorkerGroup1"].GpusPerNode);
    }

    [Fact]
    public void The_redis_password_reaches_the_request_in_clear_but_not_its_text_or_json()
    {
        const string password = "s3cret-P@ssw0rd-xyzzy";
        var protection = new EphemeralDataProtectionProvider();
        var spec = Minimal with
        {
            Head = Minimal.Head with { GftEnabled = true, GftConfig = new GftSettings("redis:6379", "ray", password) },
        };
        var stored = ClusterSecrets.ProtectRedisPassword(spec, previous: null, protection);

        var request = Resolved(ClusterId, InstanceId, stored, protection: protection);

        Assert.Equal(password, request.RedisPassword!.Reveal());
        Assert.DoesNotContain(password, request.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(password, JsonSerializer.Serialize(request), StringComparison.Ordinal);
        Assert.Null(Resolved(ClusterId, InstanceId, stored with { Head = stored.Head with { GftEnabled = false } }, protection: protection).RedisPassword);
    }

    [Fact]
    public void A_password_whose_key_is_gone_is_unreadable_rather_than_a_failed_pass()
    {
        var stored = ClusterSecrets.ProtectRedisPassword(Minimal with
        {
            Head = Minimal.Head with { GftEnabled = true, GftConfig = new GftSettings("redis:6379", null, "old") },
        }, previous: null, new EphemeralDataProtectionProvider());

        var secret = ProviderRequestBuilder.RedisPassword(stored, new EphemeralDataProtectionProvider());

        Assert.NotNull(secret);
        Assert.False(secret.IsReadable);
        Assert.Throws<InvalidOperationException>(secret.Reveal);
    }
}
