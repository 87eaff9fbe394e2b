using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

/// <summary>
/// Answers a refused caller with Forbidden.RAM (403) and an audit row. Challenges (no valid signature) go to the ACS3
/// scheme, which answers with the signature error's own code.
/// </summary>
public sealed class RamForbiddenResultHandler(TimeProvider time) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (!authorizeResult.Forbidden || authorizeResult.AuthorizationFailure?.FailureReasons.OfType<RamDenial>().FirstOrDefault() is not { } denial)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }

        var caller = Caller.Of(context);
        var db = context.RequestServices.GetRequiredService<RayfleetDbContext>();
        db.Audit.Add(new AuditRow
        {
            Time = time.GetUtcNow().ToUnixTimeMilliseconds(),
            PrincipalId = caller?.PrincipalId,
            AccessKeyId = caller?.AccessKeyId,
            Action = denial.Action,
            WorkspaceId = denial.WorkspaceId is { Length: <= 64 } ws ? ws : null,
            Resource = $"{context.Request.Method} {context.Request.Path}",
            Outcome = AuthCodes.Forbidden,
            Status = 403,
            RequestId = context.RequestId(),
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
        });
        await db.SaveChangesAsync(CancellationToken.None);
        db.ChangeTracker.Clear();
        throw new ApiException(403, AuthCodes.Forbidden, denial.Message);
    }
}
