using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Jobs.Logs;

public enum LogUrlOutcome
{
    Valid,
    Expired,
    /// <summary>Not made by this service (with its Data Protection keys), changed, or not a token at all.</summary>
    Invalid,
}

/// <summary>What a valid download token grants: one file of one job, until <see cref="Expires"/>.</summary>
public sealed record LogUrlGrant(string WorkspaceId, string SubmissionId, string RelativeName, DateTimeOffset Expires);

/// <summary>
/// The download URLs of GetRayLog: <c>&lt;base&gt;/logs/v1/&lt;token&gt;</c>, the token naming the job, the file and the
/// expiry, sealed with ASP.NET Core Data Protection (authenticated encryption: AES-256-CBC with HMAC-SHA256 under
/// keys that Data Protection generates, rotates and keeps in the data folder, the same ring that protects access key
/// secrets). A changed token does not authenticate, so the file and the expiry cannot be altered; nothing of the path
/// is read from the URL itself. The expiry is checked here against the injected <see cref="TimeProvider"/>, not by
/// <c>ITimeLimitedDataProtector</c>, which reads the system clock and reports an expired token like a forged one.
/// </summary>
public sealed partial class LogAccessUrls(IDataProtectionProvider protection, TimeProvider time, IOptions<LogOptions> options)
{
    /// <summary>The download route's prefix; exempt from request signatures, since the token is the credential.</summary>
    public const string RoutePrefix = "/logs/v1";
    private const string Purpose = "Rayfleet.Logs.AccessUrl.v1";
    private const int MaxTokenLength = 4096;

    private readonly IDataProtector _protector = protection.CreateProtector(Purpose);
    private readonly LogOptions _options = options.Value;

    /// <summary>A URL that downloads the job's file for <see cref="LogOptions.UrlLifetime"/> from now.</summary>
    public (string Url, DateTimeOffset Expires) Create(string baseUrl, string workspaceId, string submissionId, string relativeName)
    {
        var expires = time.GetUtcNow() + _options.UrlLifetime;
        var claims = new Claims(1, workspaceId, submissionId, relativeName, expires.ToUnixTimeMilliseconds());
        var token = _protector.Protect(JsonSerializer.Serialize(claims, ClaimsJson.Default.Claims));
        return ($"{(_options.PublicBaseUrl is { Length: > 0 } configured ? configured : baseUrl).TrimEnd('/')}{RoutePrefix}/{token}", expires);
    }

    /// <summary>Reads a token from a download URL: what it grants, or why it grants nothing.</summary>
    public (LogUrlOutcome Outcome, LogUrlGrant? Grant) Read(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength) return (LogUrlOutcome.Invalid, null);
        Claims? claims;
        try
        {
            claims = JsonSerializer.Deserialize(_protector.Unprotect(token), ClaimsJson.Default.Claims);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or JsonException)
        {
            return (LogUrlOutcome.Invalid, null);
        }
        if (claims is not { V: 1, W: { } w, J: { } j, P: { } p }) return (LogUrlOutcome.Invalid, null);
        var grant = new LogUrlGrant(w, j, p, DateTimeOffset.FromUnixTimeMilliseconds(claims.E));
        return time.GetUtcNow() >= grant.Expires ? (LogUrlOutcome.Expired, grant) : (LogUrlOutcome.Valid, grant);
    }

    private sealed record Claims(
        [property: JsonPropertyName("v")] int V,
        [property: JsonPropertyName("w")] string? W,
        [property: JsonPropertyName("j")] string? J,
        [property: JsonPropertyName("p")] string? P,
        [property: JsonPropertyName("e")] long E);

    [JsonSerializable(typeof(Claims))]
    private sealed partial class ClaimsJson : JsonSerializerContext;
}
