using System.Security.Cryptography;
using Rayfleet.Core.Signing;

namespace Rayfleet.Bench;

/// <summary>Signs every request with ACS3-HMAC-SHA256, as the official SDKs and the rayfleet CLI do.</summary>
public sealed class SigningHandler(AccessKey key, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>A fresh admin key for one run, installed through Rayfleet:Security:BootstrapAccessKeyId/Secret.</summary>
    public static AccessKey NewKey() => new(
        "RFAK" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20),
        RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 30));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        Acs3RequestSigner.Sign(request, body, key, DateTimeOffset.UtcNow);
        return await base.SendAsync(request, cancellationToken);
    }
}
