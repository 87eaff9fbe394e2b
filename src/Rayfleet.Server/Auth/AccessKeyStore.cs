using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

public sealed record KeyInfo(string AccessKeyId, string PrincipalId, bool Active, bool IsAdmin, string Secret);

/// <summary>
/// Access keys with their secrets encrypted at rest by Data Protection (key ring in the data folder, outside the
/// database). Decrypted keys are cached briefly in memory; a change to a key evicts it at once.
/// </summary>
public sealed class AccessKeyStore(IServiceScopeFactory scopes, IDataProtectionProvider protection, IMemoryCache cache)
{
    private const string Purpose = "Rayfleet.AccessKeySecret";
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    public static string NewKeyId() => "RFAK" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20);

    public static string NewSecret() => RandomNumberGenerator.GetString(Alphabet, 30);

    public string Protect(string secret) => protection.CreateProtector(Purpose).Protect(secret);

    public async Task<KeyInfo?> FindAsync(string accessKeyId, CancellationToken ct)
    {
        if (cache.TryGetValue(CacheKey(accessKeyId), out KeyInfo? cached)) return cached;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var row = await db.AccessKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == accessKeyId, ct);
        if (row is null) return null;
        var principal = await db.Principals.AsNoTracking().FirstOrDefaultAsync(p => p.Id == row.PrincipalId, ct);
        if (principal is null) return null;
        var info = new KeyInfo(row.Id, row.PrincipalId, row.Active, principal.IsAdmin, protection.CreateProtector(Purpose).Unprotect(row.ProtectedSecret));
        cache.Set(CacheKey(accessKeyId), info, CacheFor);
        return info;
    }

    public void Evict(string accessKeyId) => cache.Remove(CacheKey(accessKeyId));

    private static string CacheKey(string id) => "ak:" + id;
}
