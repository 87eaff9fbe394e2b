using Rayfleet.Core.Signing;

namespace Rayfleet.Server.Tests.Support;

/// <summary>Signs every request like the official C# SDK, with the clock the server under test uses.</summary>
public sealed class SigningHandler(AccessKey key, TimeProvider clock) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        if (!request.Headers.Contains("Authorization"))
            Acs3RequestSigner.Sign(request, body, key, clock.GetUtcNow());
        return await base.SendAsync(request, cancellationToken);
    }
}
