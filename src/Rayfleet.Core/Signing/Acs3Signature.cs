using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Rayfleet.Core.Signing;

/// <summary>
/// Alibaba Cloud request signature V3 (ACS3-HMAC-SHA256), as the official SDKs compute it: one implementation for the
/// server's verification, the CLI and tests. See acs3-signature.md.
/// </summary>
public static class Acs3Signature
{
    public const string Algorithm = "ACS3-HMAC-SHA256";
    public const string EmptyBodyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    public const string DateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public static string HexSha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static string HexSha256(string text)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            return HexSha256(buffer.AsSpan(0, Encoding.UTF8.GetBytes(text, buffer)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The canonical request. <paramref name="rawPath"/> is the request target's path exactly as sent (still
    /// percent-encoded); <paramref name="rawQuery"/> the part after '?', or empty. Header names must be lower case.
    /// </summary>
    public static string CanonicalRequest(
        string method, string rawPath, string rawQuery, IReadOnlyList<KeyValuePair<string, string>> signedHeaders, string payloadHash)
    {
        var sorted = signedHeaders.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var sb = new StringBuilder(512);
        sb.Append(method.ToUpperInvariant()).Append('\n');
        sb.Append(CanonicalUri(rawPath)).Append('\n');
        sb.Append(CanonicalQuery(rawQuery)).Append('\n');
        foreach (var (name, value) in sorted)
            sb.Append(name).Append(':').Append(value.AsSpan().Trim()).Append('\n');
        sb.Append('\n');
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i > 0) sb.Append(';');
            sb.Append(sorted[i].Key);
        }
        sb.Append('\n').Append(payloadHash);
        return sb.ToString();
    }

    public static string StringToSign(string canonicalRequest) => Algorithm + "\n" + HexSha256(canonicalRequest);

    public static string Sign(string secret, string stringToSign)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(stringToSign));
        return Convert.ToHexStringLower(mac);
    }

    public static string AuthorizationHeader(string accessKeyId, IEnumerable<string> signedHeaderNames, string signature) =>
        $"{Algorithm} Credential={accessKeyId},SignedHeaders={string.Join(';', signedHeaderNames.OrderBy(h => h, StringComparer.Ordinal))},Signature={signature}";

    /// <summary>The path as the C# SDK signs it: as sent, with <c>+</c>, <c>*</c> and <c>%7E</c> normalised; "/" when empty.</summary>
    public static string CanonicalUri(string rawPath)
    {
        if (string.IsNullOrEmpty(rawPath)) return "/";
        return rawPath.Replace("+", "%20", StringComparison.Ordinal).Replace("*", "%2A", StringComparison.Ordinal)
            .Replace("%7E", "~", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Decodes each name and value, re-encodes them under RFC 3986, sorts by name then value (ordinal), joins with
    /// '&amp;'. Gives the client's canonical query whatever encoding variant it put on the wire.
    /// </summary>
    public static string CanonicalQuery(string rawQuery)
    {
        if (string.IsNullOrEmpty(rawQuery)) return "";
        var pairs = rawQuery.TrimStart('?')
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p =>
            {
                var eq = p.IndexOf('=', StringComparison.Ordinal);
                var name = eq < 0 ? p : p[..eq];
                var value = eq < 0 ? "" : p[(eq + 1)..];
                return (Name: PercentEncode(Decode(name)), Value: PercentEncode(Decode(value)));
            })
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal);
        return string.Join('&', pairs.Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>RFC 3986 percent-encoding of UTF-8 bytes, upper-case hex, unreserved set A-Z a-z 0-9 - _ . ~.</summary>
    public static string PercentEncode(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.' or '~') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    // '+' in a query means '+' to these clients (they encode spaces as %20), so only %XX is decoded.
    private static string Decode(string value) => Uri.UnescapeDataString(value);
}

/// <summary>What a client needs to sign a request; used by the CLI and the tests.</summary>
public sealed record AccessKey(string Id, string Secret);

/// <summary>Signs outgoing requests the way the official C# SDK does (it signs host, content-type and x-acs-*).</summary>
public static class Acs3RequestSigner
{
    public const string ApiVersion = "2023-08-08";

    /// <summary>Adds the x-acs-* headers and the Authorization header to <paramref name="request"/>.</summary>
    public static void Sign(HttpRequestMessage request, byte[] body, AccessKey key, DateTimeOffset now, string? action = null, string? nonce = null)
    {
        var uri = request.RequestUri ?? throw new ArgumentException("The request has no URI.", nameof(request));
        var hash = Acs3Signature.HexSha256(body);
        request.Headers.Remove("x-acs-version");
        request.Headers.TryAddWithoutValidation("x-acs-version", ApiVersion);
        if (action is not null) request.Headers.TryAddWithoutValidation("x-acs-action", action);
        request.Headers.TryAddWithoutValidation("x-acs-date", now.UtcDateTime.ToString(Acs3Signature.DateFormat, CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("x-acs-signature-nonce", nonce ?? Guid.NewGuid().ToString("D"));
        request.Headers.TryAddWithoutValidation("x-acs-content-sha256", hash);

        var host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var headers = new List<KeyValuePair<string, string>> { new("host", host) };
        if (request.Content?.Headers.ContentType is { } contentType) headers.Add(new("content-type", contentType.ToString()));
        foreach (var h in request.Headers.Where(h => h.Key.StartsWith("x-acs-", StringComparison.OrdinalIgnoreCase)))
            headers.Add(new(h.Key.ToLowerInvariant(), string.Join(", ", h.Value)));

        var canonical = Acs3Signature.CanonicalRequest(request.Method.Method, uri.AbsolutePath, uri.Query.TrimStart('?'), headers, hash);
        var signature = Acs3Signature.Sign(key.Secret, Acs3Signature.StringToSign(canonical));
        request.Headers.TryAddWithoutValidation("Authorization", Acs3Signature.AuthorizationHeader(key.Id, headers.Select(h => h.Key), signature));
    }
}

/// <summary>Signs every request that passes through it, with the time of <paramref name="clock"/>.</summary>
public sealed class Acs3SigningHandler(AccessKey key, TimeProvider clock) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        // A request signed by hand (tests of the signature itself) goes through untouched.
        if (!request.Headers.Contains("Authorization"))
            Acs3RequestSigner.Sign(request, body, key, clock.GetUtcNow());
        return await base.SendAsync(request, cancellationToken);
    }
}
