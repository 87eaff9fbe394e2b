namespace Rayfleet.Server.Auth;

/// <summary>Who is calling: set by the signature middleware, read by authorization, handlers and the audit log.</summary>
public sealed record Caller(string PrincipalId, string? AccessKeyId, bool IsAdmin)
{
    private const string Item = "rayfleet.caller";

    public static Caller? Of(HttpContext context) => context.Items.TryGetValue(Item, out var c) ? c as Caller : null;

    public void AttachTo(HttpContext context) => context.Items[Item] = this;
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
