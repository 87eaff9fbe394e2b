using System.Text.Json;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>
/// Rayfleet's own cluster settings, carried in <c>extraParam</c> so that the official SDKs can set them:
/// <c>{"idleStopSeconds": 900}</c> stops the cluster after that long with no running job and no connected driver.
/// </summary>
public static class ClusterExtensions
{
    public const string IdleStop = "idleStopSeconds";
    public const int MinIdleStopSeconds = 10;
    public const int MaxIdleStopSeconds = 30 * 86_400;

    /// <summary>The idle stop a stored <c>extraParam</c> asks for; null when none (or when it breaks the rule, which the API refuses).</summary>
    public static int? IdleStopSeconds(string? extraParam)
    {
        if (string.IsNullOrWhiteSpace(extraParam)) return null;
        try
        {
            using var doc = JsonDocument.Parse(extraParam, new JsonDocumentOptions { MaxDepth = ClusterRules.MaxExtraParamDepth });
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(IdleStop, out var value)
                ? Read(value, null)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Reads <c>extraParam.idleStopSeconds</c>, adding a problem naming it when it breaks the rule.</summary>
    public static int? Read(JsonElement value, List<Problem>? problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var seconds) && seconds is >= MinIdleStopSeconds and <= MaxIdleStopSeconds)
            return seconds;
        problems?.Add(new Problem(ErrorCodes.InvalidParameter, "extraParam." + IdleStop,
            $"The specified parameter extraParam.{IdleStop} is not valid: must be a whole number of seconds from {MinIdleStopSeconds} to {MaxIdleStopSeconds}."));
        return null;
    }
}
