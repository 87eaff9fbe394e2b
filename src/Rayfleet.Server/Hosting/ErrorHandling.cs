using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Server.Hosting;

public static partial class ErrorHandling
{
    private const string RequestIdItem = "rayfleet.requestId";

    public static string RequestId(this HttpContext context) =>
        context.Items.TryGetValue(RequestIdItem, out var id) && id is string s ? s : "";

    /// <summary>
    /// Gives every request an id (header <c>x-acs-request-id</c>), turns <see cref="ApiException"/> into the POP error
    /// body, and any other exception into <c>InternalError</c> logged with the request id.
    /// </summary>
    public static IApplicationBuilder UseAcsErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var requestId = Ids.Request();
        context.Items[RequestIdItem] = requestId;
        context.Response.Headers["x-acs-request-id"] = requestId;
        if (context.Request.ContentLength > RayfleetApp.MaxBodyBytes)
        {
            // Refused before anything reads it: not every host enforces Kestrel's MaxRequestBodySize (the in-process
            // test server does not), and the signature check buffers the body before any handler sees it.
            await WriteErrorAsync(context, 413, ErrorCodes.RequestEntityTooLarge, "The request body is larger than 1 MiB.");
            return;
        }
        try
        {
            await next(context);
        }
        catch (ApiException ex) when (!context.Response.HasStarted)
        {
            await WriteErrorAsync(context, ex.Status, ex.Code, ex.Message, ex.Details);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            if (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
                await WriteErrorAsync(context, 413, ErrorCodes.RequestEntityTooLarge, "The request body is larger than 1 MiB.");
            else
                await WriteErrorAsync(context, 400, ErrorCodes.InvalidParameter, ex.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Rayfleet.Api");
            LogUnhandled(logger, ex, requestId, context.Request.Method, context.Request.Path);
            await WriteErrorAsync(context, 500, ErrorCodes.InternalError,
                $"An internal error occurred. Quote request id {requestId} when reporting it.");
        }
    });

    /// <summary>
    /// Statuses that the framework sets without a body get the error body too: unknown routes and methods answer
    /// InvalidApi.NotFound (never an empty 404 or 405), a body that is not JSON UnsupportedMediaType (routing refuses
    /// it against the Accepts metadata before any handler runs), and anything else the code of its status.
    /// </summary>
    public static IApplicationBuilder UseUnknownApiErrors(this IApplicationBuilder app) =>
        app.UseStatusCodePages(async ctx =>
        {
            var http = ctx.HttpContext;
            var request = http.Request;
            switch (http.Response.StatusCode)
            {
                case 404 or 405:
                    await WriteErrorAsync(http, 404, ErrorCodes.ApiNotFound, $"The API {request.Method} {request.Path} does not exist.");
                    break;
                case 415:
                    await WriteErrorAsync(http, 415, ErrorCodes.UnsupportedMediaType,
                        $"The request body must be application/json, got {ClusterRules.Shown(request.ContentType ?? "")}.");
                    break;
                case 413:
                    await WriteErrorAsync(http, 413, ErrorCodes.RequestEntityTooLarge, "The request body is larger than 1 MiB.");
                    break;
                case var status and < 500:
                    await WriteErrorAsync(http, status, ErrorCodes.InvalidParameter, "The request is not valid.");
                    break;
                case var status:
                    await WriteErrorAsync(http, status, ErrorCodes.InternalError,
                        $"An internal error occurred. Quote request id {http.RequestId()} when reporting it.");
                    break;
            }
        });

    public static async Task WriteErrorAsync(
        HttpContext context, int status, string code, string message, IReadOnlyList<ErrorDetail>? details = null)
    {
        var requestId = context.RequestId();
        var body = new ErrorBody
        {
            RequestId = requestId,
            HostId = context.Request.Host.HasValue ? context.Request.Host.Value : "rayfleet",
            Code = code,
            Message = message,
            Recommend = null,
            Errors = details,
        };
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(body, WireJson.Default.ErrorBody));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error for request {RequestId} {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception ex, string requestId, string method, string path);
}

/// <summary>Reads request bodies as the SDKs send them: a JSON object, or nothing at all.</summary>
public static class JsonBody
{
    public static readonly JsonSerializerOptions Options = new()
    {
        MaxDepth = 32,
        // Only the wire contracts, source-generated: a body cannot make the service build a serializer at run time.
        TypeInfoResolver = WireJson.Default,
        // Exact, case-sensitive names: the SDKs send the wire names; near misses must not bind silently.
        PropertyNameCaseInsensitive = false,
        AllowTrailingCommas = false,
    };

    public static async Task<T> ReadAsync<T>(HttpRequest request) where T : new() => Parse<T>(await ReadBoundedAsync(request));

    /// <summary>
    /// The body, refused with RequestEntityTooLarge as soon as it is known to exceed 1 MiB: at once from
    /// Content-Length, otherwise after reading one byte past the limit, never to the end. Read once per request: the
    /// signature check, a RAM policy that looks into the body and the handler all get the same bytes.
    /// </summary>
    public static async Task<byte[]> ReadBoundedAsync(HttpRequest request)
    {
        var features = request.HttpContext.Features;
        if (features.Get<ReadBody>() is { } read) return read.Bytes;
        var bytes = await ReadOnceAsync(request);
        features.Set(new ReadBody(bytes));
        return bytes;
    }

    private static async Task<byte[]> ReadOnceAsync(HttpRequest request)
    {
        const long limit = RayfleetApp.MaxBodyBytes;
        var ct = request.HttpContext.RequestAborted;
        if (request.ContentLength is { } length)
        {
            if (length > limit) throw TooLarge();
            // The server holds the body to its Content-Length, so the exact buffer is all there is to read.
            var exact = new byte[length];
            var filled = 0;
            int n;
            while (filled < exact.Length && (n = await request.Body.ReadAsync(exact.AsMemory(filled), ct)) > 0) filled += n;
            return filled == exact.Length ? exact : exact[..filled];
        }
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) throw TooLarge();
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    /// <summary>The request's body once read.</summary>
    private sealed record ReadBody(byte[] Bytes);

    private static ApiException TooLarge() =>
        new(413, ErrorCodes.RequestEntityTooLarge, $"The request body is larger than {RayfleetApp.MaxBodyBytes / (1024 * 1024)} MiB.");

    public static T Parse<T>(byte[] bytes) where T : new()
    {
        if (bytes.Length == 0 || bytes.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
            return new T();
        try
        {
            // The first token says whether it is an object; the deserializer checks the rest (depth included).
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = Options.MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new ApiException(400, ErrorCodes.InvalidJson, "The request body must be a JSON object.");
            return JsonSerializer.Deserialize<T>(bytes, Options) ?? new T();
        }
        catch (JsonException ex)
        {
            var where = string.IsNullOrEmpty(ex.Path) ? "" : $" at {ex.Path.TrimStart('$', '.')}";
            throw new ApiException(400, ErrorCodes.InvalidJson,
                $"The request body is not a JSON object of the expected types{where}: {FirstLine(ex.Message)}");
        }
    }

    private static string FirstLine(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}

public static class FeatureExtensions
{
    public static void LimitBody(this HttpContext context, long bytes)
    {
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = bytes;
    }
}
