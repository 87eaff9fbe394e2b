namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// Sends through the Kubernetes client's own <see cref="HttpClient"/> after letting its credentials sign the request,
/// as the client does for its generated calls: the service proxy needs a body on a POST, which the client's
/// <c>ConnectPostNamespacedServiceProxy</c> calls cannot send.
/// </summary>
internal sealed class KubernetesApiHandler(k8s.Kubernetes client) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // The outer HttpClient has marked the message sent; the Kubernetes client's HttpClient needs its own copy.
        using var copy = new HttpRequestMessage(request.Method, request.RequestUri) { Content = request.Content, Version = request.Version };
        foreach (var (name, values) in request.Headers) copy.Headers.TryAddWithoutValidation(name, values);
        if (client.Credentials is { } credentials) await credentials.ProcessHttpRequestAsync(copy, cancellationToken);
        return await client.HttpClient.SendAsync(copy, cancellationToken);
    }
}
