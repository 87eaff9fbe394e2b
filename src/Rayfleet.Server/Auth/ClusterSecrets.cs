using Microsoft.AspNetCore.DataProtection;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Auth;

/// <summary>
/// How a cluster's GCS Redis password is kept: the API protects it before the spec is stored, and the reconciler
/// unprotects it into the request it hands a provider. Providers never hold the keys.
/// </summary>
public static class ClusterSecrets
{
    // Part of the stored data: a different purpose cannot unprotect what was protected under this one.
    public const string RedisPasswordPurpose = "Rayfleet.RayCluster.GftRedisPassword";

    /// <summary>The spec with its Redis password protected; a password equal to the previous spec's is stored already.</summary>
    public static ClusterSpec ProtectRedisPassword(ClusterSpec spec, ClusterSpec? previous, IDataProtectionProvider protection)
    {
        var password = spec.Head.GftConfig?.RedisPassword;
        if (password is null || password == previous?.Head.GftConfig?.RedisPassword) return spec;
        var protectedPassword = protection.CreateProtector(RedisPasswordPurpose).Protect(password);
        return spec with { Head = spec.Head with { GftConfig = spec.Head.GftConfig! with { RedisPassword = protectedPassword } } };
    }

    /// <summary>The stored spec's Redis password in clear; throws <see cref="System.Security.Cryptography.CryptographicException"/> when its key is gone.</summary>
    public static string? UnprotectRedisPassword(ClusterSpec spec, IDataProtectionProvider protection) =>
        spec.Head.GftConfig?.RedisPassword is { } stored ? protection.CreateProtector(RedisPasswordPurpose).Unprotect(stored) : null;
}
