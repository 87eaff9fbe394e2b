using System.Security.Claims;

namespace Rayfleet.Server.Auth;

/// <summary>
/// Who is calling: the user that the ACS3 authentication scheme signs in, read by authorization, handlers and the
/// audit log.
/// </summary>
public sealed record Caller(string PrincipalId, string? AccessKeyId, bool IsAdmin)
{
    private const string AccessKeyClaim = "rayfleet:accessKeyId";
    private const string AdminClaim = "rayfleet:admin";

    public static Caller? Of(HttpContext context) => From(context.User);

    public static Caller? From(ClaimsPrincipal? user)
    {
        if (user?.Identity is not { IsAuthenticated: true } || user.FindFirst(ClaimTypes.NameIdentifier)?.Value is not { } principalId)
            return null;
        return new Caller(principalId, user.FindFirst(AccessKeyClaim)?.Value, user.HasClaim(AdminClaim, "true"));
    }

    public ClaimsPrincipal ToPrincipal(string authenticationType)
    {
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, PrincipalId) };
        if (AccessKeyId is not null) claims.Add(new(AccessKeyClaim, AccessKeyId));
        if (IsAdmin) claims.Add(new(AdminClaim, "true"));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, authenticationType));
    }
}

public static class Roles
{
    public const string Owner = "owner";
    public const string Developer = "developer";
    public const string Viewer = "viewer";

    public static readonly IReadOnlyList<string> All = [Owner, Developer, Viewer];

    public static int Rank(string? role) => role switch
    {
        Owner => 3,
        Developer => 2,
        Viewer => 1,
        _ => 0,
    };
}
