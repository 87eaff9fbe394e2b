using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Api;

/// <summary>
/// A List answer, <c>{"requestId":…,"&lt;name&gt;":[…],"totalCount":N}</c>, written to the response item by item as
/// the items are read, with the same JSON options as every other answer: what one List holds at a time is one item
/// and a flush's worth of bytes, not the page.
/// </summary>
/// <typeparam name="TResponse">The contract the answer has the shape of, for the API description.</typeparam>
/// <typeparam name="TItem">One item of the list.</typeparam>
public sealed class StreamedList<TResponse, TItem>(string requestId, string itemsName, IAsyncEnumerable<TItem> items, int totalCount)
    : IResult, IEndpointMetadataProvider
{
    static void IEndpointMetadataProvider.PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(TResponse), ["application/json"]));

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
