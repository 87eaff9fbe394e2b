using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

/// <summary>Alibaba Cloud POP error body; the SDKs read <c>Code</c>, <c>Message</c> and <c>RequestId</c>.</summary>
public sealed record ErrorBody
{
    [JsonPropertyName("RequestId")] public required string RequestId { get; init; }
    [JsonPropertyName("HostId")] public required string HostId { get; init; }
    [JsonPropertyName("Code")] public required string Code { get; init; }
    [JsonPropertyName("Message")] public required string Message { get; init; }
    [JsonPropertyName("Recommend")] public string? Recommend { get; init; }
    /// <summary>Rayfleet extension: every broken rule of the request, not only the first.</summary>
    [JsonPropertyName("Errors")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<ErrorDetail>? Errors { get; init; }
}

public sealed record ErrorDetail(
    [property: JsonPropertyName("Code")] string Code,
    [property: JsonPropertyName("Field")] string Field,
    [property: JsonPropertyName("Message")] string Message);
