using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

public sealed class Acs3AuthenticationOptions : AuthenticationSchemeOptions;

/// <summary>
/// The "ACS3" authentication scheme: verifies ACS3-HMAC-SHA256 signatures in the order of acs3-signature.md §7 (the
/// Authorization header, the key, the date, the body hash, the signature, and only then the nonce) and makes the
/// <see cref="Caller"/> the request's user. A failed check is answered, audited and logged when authorization
/// challenges the request, with the Alibaba error body of its code.
/// </summary>
public sealed partial class Acs3AuthenticationHandler(
    IOptionsMonitor<Acs3AuthenticationOptions> schemeOptions, ILoggerFactory loggerFactory, UrlEncoder encoder,
    AccessKeyStore keys, IOptions<SecurityOptions> security, TimeProvider clock)
    : AuthenticationHandler<Acs3AuthenticationOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ACS3";
    private readonly SecurityOptions _options = security.Value;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (SignatureRules.IsExempt(Request.Path)) return AuthenticateResult.NoResult();
        if (_options.InsecureDevelopmentMode)
        {
            Response.Headers[SignatureRules.InsecureHeader] = "true; request signatures are not checked";
            return Success(new Caller("insecure-development-mode", null, IsAdmin: true));
        }

        var (caller, failure) = await VerifyAsync(Context);
        return failure is null ? Success(caller!) : AuthenticateResult.Fail(new SignatureRejectedException(failure));
    }

    private static AuthenticateResult Success(Caller caller) =>
        AuthenticateResult.Success(new AuthenticationTicket(caller.ToPrincipal(SchemeName), SchemeName));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        if (result.Failure is not SignatureRejectedException { Failure: var failure })
        {
            await base.HandleChallengeAsync(properties);
            return;
        }
        await AuditFailureAsync(Context, failure);
        LogRejected(Logger, Context.RequestId(), failure.Code, failure.AccessKeyId ?? "-");
        throw new ApiException(failure.Status, failure.Code, failure.Message);
    }

    private sealed class SignatureRejectedException(Failure failure) : Exception(failure.Message)
    {
        public Failure Failure { get; } = failure;
    }

    private sealed record Failure(int Status, string Code, string Message, string? AccessKeyId);

    private async Task<(Caller?, Failure?)> VerifyAsync(HttpContext context)
    {
        var request = context.Request;
        if (!TryParseAuthorization(request.Headers.Authorization.ToString(), out var akId, out var signedNames, out var signature))
            return (null, new(400, AuthCodes.IncompleteSignature,
                "The request signature does not conform to Aliyun standards: expected 'Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<names>,Signature=<hex>'.", null));
        foreach (var required in new[] { "host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256" })
            if (!signedNames.Contains(required))
                return (null, new(400, AuthCodes.IncompleteSignature, $"The request signature does not conform to Aliyun standards: header '{required}' must be signed.", akId));
        foreach (var name in signedNames)
            if (HeaderValue(request, name) is null)
                return (null, new(400, AuthCodes.IncompleteSignature, $"The request signature does not conform to Aliyun standards: signed header '{name}' is missing.", akId));

        var key = await keys.FindAsync(akId, context.RequestAborted);
        if (key is null) return (null, new(404, AuthCodes.AccessKeyNotFound, "Specified access key is not found.", akId));
        if (!key.Active) return (null, new(400, AuthCodes.AccessKeyInactive, "Specified access key is disabled.", akId));

        var dateText = HeaderValue(request, "x-acs-date")!;
        if (!DateTimeOffset.TryParseExact(dateText, Acs3Signature.DateFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date))
            return (null, new(400, AuthCodes.TimestampFormat, $"Specified time stamp or date value is not well formatted: x-acs-date must look like 2026-01-29T08:00:00Z, got '{dateText}'.", akId));
        var now = clock.GetUtcNow();
        if ((now - date).Duration() > _options.TimestampWindow)
            return (null, new(400, AuthCodes.TimestampExpired,
                $"Specified time stamp or date value is expired: x-acs-date {dateText} is more than {_options.TimestampWindow.TotalMinutes:0} minutes from the server's time {now.UtcDateTime.ToString(Acs3Signature.DateFormat, CultureInfo.InvariantCulture)}.", akId));

        var body = await JsonBody.ReadBoundedAsync(context.Request);
        var bodyHash = Acs3Signature.HexSha256(body);
        var claimedHash = HeaderValue(request, "x-acs-content-sha256")!;
        if (!string.Equals(claimedHash, bodyHash, StringComparison.Ordinal))
            return (null, new(400, AuthCodes.ContentSha256Mismatch, "x-acs-content-sha256 does not match the SHA-256 of the received body.", akId));

        // The raw request target as sent (still percent-encoded): HttpRequest.Path is already decoded. In-process test
        // servers leave RawTarget empty; the re-encoded path is the same string for every path these clients send.
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(rawTarget)) rawTarget = (request.PathBase + request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
        var q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var rawPath = q < 0 ? rawTarget : rawTarget[..q];
        var rawQuery = q < 0 ? "" : rawTarget[(q + 1)..];
        var headers = signedNames.Select(n => new KeyValuePair<string, string>(n, HeaderValue(request, n)!)).ToList();
        var canonical = Acs3Signature.CanonicalRequest(request.Method, rawPath, rawQuery, headers, claimedHash);
        var stringToSign = Acs3Signature.StringToSign(canonical);
        var expected = Acs3Signature.Sign(key.Secret, stringToSign);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature.ToLowerInvariant())))
            return (null, new(400, AuthCodes.SignatureDoesNotMatch,
                $"Specified signature does not match our calculation. server string to sign is: {stringToSign.Replace("\n", "\\n", StringComparison.Ordinal)}", akId));

        var nonce = HeaderValue(request, "x-acs-signature-nonce")!;
        if (nonce.Length is 0 or > 128)
            return (null, new(400, AuthCodes.IncompleteSignature, "x-acs-signature-nonce must be 1 to 128 characters.", akId));
        var fresh = await context.RequestServices.GetRequiredService<NonceLedger>()
            .TryRecordAsync(akId, nonce, ((date > now ? date : now) + _options.NonceRetention).ToUnixTimeMilliseconds());
        if (!fresh) return (null, new(400, AuthCodes.NonceUsed, "Specified signature nonce was used already.", akId));

        return (new Caller(key.PrincipalId, key.AccessKeyId, key.IsAdmin), null);
    }

    private static string? HeaderValue(HttpRequest request, string name)
    {
        if (name == "host") return request.Headers.Host.Count > 0 ? request.Headers.Host.ToString() : null;
        var values = request.Headers[name];
        if (values.Count == 0) return null;
        if (values.Count == 1) return (values[0] ?? "").Trim();
        // The C# SDK joins repeated values with ", " (acs3-signature.md §3.3).
        return string.Join(", ", values.Select(v => (v ?? "").Trim()));
    }

    private static bool TryParseAuthorization(string header, out string accessKeyId, out HashSet<string> signedHeaders, out string signature)
    {
        accessKeyId = signature = "";
        signedHeaders = [];
        const string prefix = Acs3Signature.Algorithm + " ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var parts = header[prefix.Length..].Split(',', StringSplitOptions.TrimEntries);
        string? credential = null, names = null, sig = null;
        foreach (var part in parts)
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) return false;
            var value = part[(eq + 1)..];
            switch (part[..eq])
            {
                case "Credential": credential = value; break;
                case "SignedHeaders": names = value; break;
                case "Signature": sig = value; break;
                default: return false;
            }
        }
        if (string.IsNullOrEmpty(credential) || string.IsNullOrEmpty(names) || string.IsNullOrEmpty(sig) || sig.Length != 64
            || !sig.All(char.IsAsciiHexDigit))
            return false;
        accessKeyId = credential;
        signature = sig;
        signedHeaders = names.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(n => n.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        return signedHeaders.Count > 0 && !signedHeaders.Contains("authorization");
    }

    private async Task AuditFailureAsync(HttpContext context, Failure failure)
    {
        // Failed authentications are recorded too (never the secret or the signature), in a transaction of their own.
        var db = context.RequestServices.GetRequiredService<RayfleetDbContext>();
        db.Audit.Add(new AuditRow
        {
            Time = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            AccessKeyId = failure.AccessKeyId is { Length: <= 128 } ak ? ak : null,
            Action = "Authenticate",
            Resource = $"{context.Request.Method} {context.Request.Path}",
            Outcome = failure.Code,
            Status = failure.Status,
            RequestId = context.RequestId(),
            SourceIp = context.Connection.RemoteIpAddress?.ToString(),
        });
        await db.SaveChangesAsync(CancellationToken.None);
        db.ChangeTracker.Clear();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId} refused: {Code} (access key {AccessKeyId})")]
    private static partial void LogRejected(ILogger logger, string requestId, string code, string accessKeyId);
}
