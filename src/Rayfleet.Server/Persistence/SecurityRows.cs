namespace Rayfleet.Server.Persistence;

/// <summary>A user or a machine that holds access keys.</summary>
public sealed class PrincipalRow
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The global admin role: manages workspaces, principals, keys and the audit log.</summary>
    public bool IsAdmin { get; set; }
    public long CreateTime { get; set; }
}

public sealed class AccessKeyRow
{
    /// <summary>The AccessKeyId clients send in Credential=.</summary>
    public required string Id { get; set; }
    public required string PrincipalId { get; set; }
    /// <summary>The secret, encrypted with Data Protection (key ring outside the database).</summary>
    public required string ProtectedSecret { get; set; }
    public bool Active { get; set; } = true;
    public long CreateTime { get; set; }
    public long? LastUsedTime { get; set; }
}

/// <summary>
/// A signature nonce already used by an access key, in the order it was used; kept until <see cref="ExpiresAt"/> (at
/// least 30 minutes) so replays fail, also after a restart and on another process of the same store. The pair is held
/// as the first 128 bits of its SHA-256 (<see cref="KeyHigh"/>, <see cref="KeyLow"/>); uniqueness is checked by the
/// <see cref="Auth.NonceLedger"/>, so the table is a log that only ever grows at its end.
/// </summary>
public sealed class NonceRow
{
    public long Seq { get; set; }
    public long KeyHigh { get; set; }
    public long KeyLow { get; set; }
    public long ExpiresAt { get; set; }
}

public sealed class MembershipRow
{
    public required string WorkspaceId { get; set; }
    public required string PrincipalId { get; set; }
    /// <summary><c>owner</c>, <c>developer</c> or <c>viewer</c>.</summary>
    public required string Role { get; set; }
    public long CreateTime { get; set; }
}

public sealed class AuditRow
{
    public long Id { get; set; }
    public long Time { get; set; }
    public string? PrincipalId { get; set; }
    public string? AccessKeyId { get; set; }
    /// <summary>RAM-style action, e.g. <c>emr-serverless-spark:CreateRayCluster</c>.</summary>
    public required string Action { get; set; }
    public string? WorkspaceId { get; set; }
    public string? Resource { get; set; }
    /// <summary><c>Success</c>, or the error code that refused the request.</summary>
    public required string Outcome { get; set; }
    public int Status { get; set; }
    public required string RequestId { get; set; }
    public string? SourceIp { get; set; }
}
