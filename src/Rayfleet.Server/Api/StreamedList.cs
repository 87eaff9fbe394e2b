using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Api;

/// <summary>
/// A List answer, <c>{"requestId":…,"&lt;name&gt;":[…],"totalCount":N}</c>, written to the response item by item as
/// the items are read, with the same JSON options as every other answer: what one List holds at a time is one item
/// and a flush's worth of bytes, not the page.
/// </summary>
public sealed class StreamedList<T>(string requestId, string itemsName, IAsyncEnumerable<T> items, int totalCount) : IResult
{
    private const int FlushBytes = 32 * 1024;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var options = httpContext.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var response = httpContext.Response;
        var ct = httpContext.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        await using var writer = new Utf8JsonWriter(response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteString("requestId", requestId);
        writer.WriteStartArray(itemsName);
        await foreach (var item in items.WithCancellation(ct))
        {
            JsonSerializer.Serialize(writer, item, options);
            if (writer.BytesPending >= FlushBytes)
            {
                writer.Flush();
                await response.BodyWriter.FlushAsync(ct);
            }
        }
        writer.WriteEndArray();
        writer.WriteNumber("totalCount", totalCount);
        writer.WriteEndObject();
        writer.Flush();
        await response.BodyWriter.FlushAsync(ct);
    }
}
