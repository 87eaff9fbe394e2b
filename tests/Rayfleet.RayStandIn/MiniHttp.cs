using System.Net.Sockets;
using System.Text;

namespace Rayfleet.RayStandIn;

internal sealed record HttpRequest(string Method, string Path, byte[] Body);

internal sealed record HttpResponse(int Status, string Body, string ContentType = "text/plain; charset=utf-8")
{
    public static HttpResponse Json(string json) => new(200, json, "application/json; charset=utf-8");
}

/// <summary>
/// Just enough HTTP/1.1 for the dashboard's routes: a request line, headers, a body read by Content-Length (bounded,
/// as aiohttp's client_max_size is), keep-alive unless the client asks to close (or speaks HTTP/1.0 without asking
/// to keep it). Chunked request bodies are refused with 411: the clients the stand-in serves send a length.
/// </summary>
internal static class MiniHttp
{
    private const int MaxHead = 16 * 1024;
    public const int MaxBody = 1024 * 1024;

    public static async Task ServeAsync(TcpListener listener, Func<HttpRequest, HttpResponse> handle, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                _ = Task.Run(() => ConnectionAsync(client, handle, ct), CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
    }

    private static async Task ConnectionAsync(TcpClient client, Func<HttpRequest, HttpResponse> handle, CancellationToken ct)
    {
        using (client)
        {
            var stream = client.GetStream();
            var buffer = new Buffered(stream);
            try
            {
                while (true)
                {
                    var head = await buffer.ReadHeadAsync(ct);
                    if (head is null) return; // peer closed between requests
                    if (head.Length == 0)
                    {
                        await WriteAsync(stream, new HttpResponse(431, "431: Request Header Fields Too Large"), keepAlive: false, ct);
                        return;
                    }
                    var lines = head.Split("\r\n");
                    var requestLine = lines[0].Split(' ');
                    if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
                    {
                        await WriteAsync(stream, new HttpResponse(400, "400: Bad Request"), keepAlive: false, ct);
                        return;
                    }
                    var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                    foreach (var line in lines.Skip(1))
                    {
                        var colon = line.IndexOf(':', StringComparison.Ordinal);
                        if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                    }
                    var connection = headers.GetValueOrDefault("Connection", "").ToLowerInvariant();
                    var keepAlive = requestLine[2] == "HTTP/1.1" ? !connection.Contains("close", StringComparison.Ordinal) : connection.Contains("keep-alive", StringComparison.Ordinal);

                    if (headers.ContainsKey("Transfer-Encoding"))
                    {
                        await WriteAsync(stream, new HttpResponse(411, "411: Length Required (the Ray stand-in reads bodies by Content-Length only)"), keepAlive: false, ct);
                        return;
                    }
                    var length = 0L;
                    if (headers.TryGetValue("Content-Length", out var declared) && (!long.TryParse(declared, out length) || length < 0))
                    {
                        await WriteAsync(stream, new HttpResponse(400, "400: Bad Request (Content-Length)"), keepAlive: false, ct);
                        return;
                    }
                    if (length > MaxBody)
                    {
                        await WriteAsync(stream, new HttpResponse(413, $"413: Request Entity Too Large (maximum {MaxBody} bytes)"), keepAlive: false, ct);
                        return;
                    }
                    var body = await buffer.ReadExactlyAsync((int)length, ct);
                    if (body is null) return;

                    var target = requestLine[1];
                    var query = target.IndexOf('?', StringComparison.Ordinal);
                    HttpResponse response;
                    try
                    {
                        response = handle(new HttpRequest(requestLine[0], query >= 0 ? target[..query] : target, body));
                    }
                    catch (Exception ex)
                    {
                        response = new HttpResponse(500, $"500 Internal Server Error\n\nServer got itself in trouble (Ray stand-in: {ex.GetType().Name}: {ex.Message})");
                    }
                    await WriteAsync(stream, response, keepAlive, ct);
                    if (!keepAlive) return;
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }
    }

    private static async Task WriteAsync(NetworkStream stream, HttpResponse response, bool keepAlive, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(response.Body);
        var head = $"HTTP/1.1 {response.Status} {Reason(response.Status)}\r\nContent-Type: {response.ContentType}\r\nContent-Length: {body.Length}\r\n"
                   + $"Connection: {(keepAlive ? "keep-alive" : "close")}\r\nServer: ray-stand-in\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), ct);
        await stream.WriteAsync(body, ct);
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };

    /// <summary>A read buffer over the connection: bytes read past one request's head belong to its body or the next request.</summary>
    private sealed class Buffered(NetworkStream stream)
    {
        private byte[] _data = new byte[4096];
        private int _start;
        private int _end;

        /// <summary>The head without its blank line; null when the peer closed first; empty when it is too long.</summary>
        public async Task<string?> ReadHeadAsync(CancellationToken ct)
        {
            while (true)
            {
                var at = _data.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
                if (at >= 0)
                {
                    var head = Encoding.ASCII.GetString(_data, _start, at);
                    _start += at + 4;
                    return head;
                }
                if (_end - _start > MaxHead) return "";
                if (!await FillAsync(ct)) return null;
            }
        }

        public async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken ct)
        {
            while (_end - _start < count)
                if (!await FillAsync(ct)) return null;
            var result = _data.AsSpan(_start, count).ToArray();
            _start += count;
            return result;
        }

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start > 0)
            {
                Array.Copy(_data, _start, _data, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _data.Length) Array.Resize(ref _data, _data.Length * 2);
            var n = await stream.ReadAsync(_data.AsMemory(_end), ct);
            _end += n;
            return n > 0;
        }
    }
}
