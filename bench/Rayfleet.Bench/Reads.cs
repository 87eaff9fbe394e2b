using System.Net;

namespace Rayfleet.Bench;

internal static class Reads
{
    /// <summary>One GET, its answer read to its end and dropped; the error in words, or null on 200.</summary>
    public static async Task<string?> GetToEndAsync(HttpClient http, string path, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, ct);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            await body.CopyToAsync(Stream.Null, ct);
            return response.StatusCode == HttpStatusCode.OK ? null : $"{(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }
}
