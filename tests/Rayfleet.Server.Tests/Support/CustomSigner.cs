using System.Globalization;
using System.Text;
using Rayfleet.Core.Signing;

namespace Rayfleet.Server.Tests.Support;

/// <summary>Signs a request by hand, choosing the signed header set, date and nonce, as other SDKs do.</summary>
public static class CustomSigner
{
    public static HttpRequestMessage Build(
        HttpMethod method, Uri uri, string? body, AccessKey key, DateTimeOffset date, string? nonce = null,
        IReadOnlyDictionary<string, string>? extraHeaders = null, bool signExtra = true, string? hashOverride = null)
    {
        var request = new HttpRequestMessage(method, uri);
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body);
        var hash = hashOverride ?? Acs3Signature.HexSha256(bytes);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}"),
            new("x-acs-action", "Test"),
            new("x-acs-version", "2023-08-08"),
            new("x-acs-date", date.UtcDateTime.ToString(Acs3Signature.DateFormat, CultureInfo.InvariantCulture)),
            new("x-acs-signature-nonce", nonce ?? Guid.NewGuid().ToString("N")),
            new("x-acs-content-sha256", hash),
        };
        if (body is not null)
        {
            request.Content = new ByteArrayContent(bytes);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=utf-8");
            headers.Add(new("content-type", "application/json; charset=utf-8"));
        }
        foreach (var (name, value) in headers.Where(h => h.Key.StartsWith("x-acs-", StringComparison.Ordinal)))
            request.Headers.TryAddWithoutValidation(name, value);
        var signed = new List<KeyValuePair<string, string>>(headers);
        foreach (var (name, value) in extraHeaders ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
            if (signExtra) signed.Add(new(name.ToLowerInvariant(), value));
        }
        var canonical = Acs3Signature.CanonicalRequest(method.Method, uri.AbsolutePath, uri.Query.TrimStart('?'), signed, hash);
        var signature = Acs3Signature.Sign(key.Secret, Acs3Signature.StringToSign(canonical));
        request.Headers.TryAddWithoutValidation("Authorization", Acs3Signature.AuthorizationHeader(key.Id, signed.Select(h => h.Key), signature));
        return request;
    }
}
