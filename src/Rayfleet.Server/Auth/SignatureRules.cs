using Rayfleet.Server.Jobs.Logs;

namespace Rayfleet.Server.Auth;

/// <summary>Signature error codes (acs3-signature.md §7).</summary>
public static class AuthCodes
{
    public const string IncompleteSignature = "IncompleteSignature";
    public const string AccessKeyNotFound = "InvalidAccessKeyId.NotFound";
    public const string AccessKeyInactive = "InvalidAccessKeyId.Inactive";
    public const string TimestampFormat = "InvalidTimeStamp.Format";
    public const string TimestampExpired = "InvalidTimeStamp.Expired";
    public const string ContentSha256Mismatch = "InvalidContentSha256";
    public const string SignatureDoesNotMatch = "SignatureDoesNotMatch";
    public const string NonceUsed = "SignatureNonceUsed";
    public const string Forbidden = "Forbidden.RAM";
}

/// <summary>Facts about signed requests that routes and tests refer to: the insecure-mode header and the exempt paths.</summary>
public static class SignatureRules
{
    public const string InsecureHeader = "x-rayfleet-insecure-mode";

    /// <summary>
    /// Paths that carry no ACS3 signature: health, the API description, and log downloads, whose URL carries its own
    /// expiring token (checked by the download handler, which accepts nothing else).
    /// </summary>
    public static bool IsExempt(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz")
        || path.StartsWithSegments("/openapi") || path.StartsWithSegments("/docs")
        || path.StartsWithSegments(LogAccessUrls.RoutePrefix);
}
