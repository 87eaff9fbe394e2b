using System.Text.Json.Nodes;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>Numbers of a JSON tree whether it was parsed (any width) or built in code (int or long).</summary>
public static class JsonNodeNumbers
{
    public static long? AsLong(this JsonNode? node) =>
        node is JsonValue v ? v.TryGetValue<long>(out var l) ? l : v.TryGetValue<int>(out var i) ? i : null : null;

    public static int? AsInt(this JsonNode? node) =>
        node.AsLong() is { } l && l is >= int.MinValue and <= int.MaxValue ? (int)l : null;
}
