using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Tests.Support;

public static class SecurityFixtures
{
    /// <summary>Creates a principal (admin or not) with a key of the given id and secret, straight in the store.</summary>
    public static async Task<AccessKey> AddPrincipalAsync(this RayfleetHost host, string name, bool admin = false, string? keyId = null, string? secret = null)
    {
        host.StartServerIfNeeded();
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var store = scope.ServiceProvider.GetRequiredService<AccessKeyStore>();
        var principalId = "p-" + name;
        if (!await db.Principals.AnyAsync(p => p.Id == principalId))
            db.Principals.Add(new PrincipalRow { Id = principalId, Name = name, IsAdmin = admin });
        var key = new AccessKey(keyId ?? AccessKeyStore.NewKeyId(), secret ?? AccessKeyStore.NewSecret());
        db.AccessKeys.Add(new AccessKeyRow { Id = key.Id, PrincipalId = principalId, ProtectedSecret = store.Protect(key.Secret) });
        await db.SaveChangesAsync();
        return key;
    }

    public static async Task AddMemberAsync(this RayfleetHost host, string workspaceId, string name, string role)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        db.Memberships.Add(new MembershipRow { WorkspaceId = workspaceId, PrincipalId = "p-" + name, Role = role });
        await db.SaveChangesAsync();
    }

    public static async Task<List<AuditRow>> AuditRowsAsync(this RayfleetHost host)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        return await db.Audit.AsNoTracking().OrderBy(a => a.Id).ToListAsync();
    }

    /// <summary>Touching Services builds and starts the host (and its Kestrel server, if asked for).</summary>
    public static void StartServerIfNeeded(this RayfleetHost host) => _ = host.Services;
}
