using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>
/// Per-cluster steering of the simulated provider, the <c>simulated</c> section of <c>extraParam</c>:
/// <c>{"simulated": {"startDelaySeconds": 5, "failOnStart": true, "failAfterSeconds": 30, "busyWorkers": {"g1": 4},
/// "driverConnected": true, "agentDelaySeconds": 3}}</c>.
/// The API validates the section with <see cref="Read"/> and the provider reads it back with <see cref="From"/>, so
/// both see the same values.
///
/// The section has one vocabulary wherever it appears: a job's knobs (<see cref="SimulatedJobBehaviour"/>) on a cluster
/// are the defaults of the jobs submitted to it, and a job's cluster knobs steer the job-mode cluster built from the job.
/// </summary>
public sealed record SimulatedBehaviour
{
    public const string Section = "simulated";
    /// <summary>Longest start delay or time to failure: a day is far beyond any test, and far below TimeSpan's range.</summary>
    public const double MaxSeconds = 86_400;

    public static readonly SimulatedBehaviour None = new();

    private static readonly string[] Knobs =
        ["startDelaySeconds", "failOnStart", "failAfterSeconds", "busyWorkers", "driverConnected", "agentDelaySeconds", .. SimulatedJobBehaviour.Knobs];

    public double? StartDelaySeconds { get; init; }
    public bool FailOnStart { get; init; }
    public double? FailAfterSeconds { get; init; }
    public ImmutableDictionary<string, int> BusyWorkers { get; init; } = ImmutableDictionary.Create<string, int>(StringComparer.Ordinal);

    /// <summary>
    /// A driver (an interactive <c>ray.init</c>, a Ray Client session) is connected while this is true: Ray's job list
    /// shows a RUNNING <c>DRIVER</c> entry from the head's start, which ends SUCCEEDED once a later spec says false.
    /// </summary>
    public bool DriverConnected { get; init; }

    /// <summary>Seconds after the head is ready before its dashboard agent takes jobs; submits meanwhile answer "not ready".</summary>
    public double? AgentDelaySeconds { get; init; }

    /// <summary>The job knobs of the section.</summary>
    public SimulatedJobBehaviour Job { get; init; } = SimulatedJobBehaviour.None;

    /// <summary>
    /// The behaviour a stored <c>extraParam</c> asks for. A knob that breaks a rule keeps its default: a spec stored
    /// before these rules existed must neither stop the provider nor be trusted.
    /// </summary>
    public static SimulatedBehaviour From(string? extraParam)
    {
        if (string.IsNullOrWhiteSpace(extraParam)) return None;
        try
        {
            using var doc = JsonDocument.Parse(extraParam, new JsonDocumentOptions { MaxDepth = ClusterRules.MaxExtraParamDepth });
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(Section, out var section)
                ? Read(section, null)
                : None;
        }
        catch (JsonException)
        {
            return None;
        }
    }

    /// <summary>Reads the section, adding a problem naming <c>extraParam.simulated.&lt;knob&gt;</c> for every broken rule.</summary>
    public static SimulatedBehaviour Read(JsonElement section, List<Problem>? problems)
    {
        const string path = "extraParam." + Section;
        if (section.ValueKind != JsonValueKind.Object)
        {
            problems?.Add(ClusterRules.Invalid(path, "must be a JSON object"));
            return None;
        }

        var behaviour = None;
        foreach (var knob in section.EnumerateObject())
        {
            var field = $"{path}.{Cut(knob.Name)}";
            var value = knob.Value;
            switch (knob.Name)
            {
                case "startDelaySeconds":
                    behaviour = behaviour with { StartDelaySeconds = Seconds(value, field, problems) };
                    break;
                case "failAfterSeconds":
                    behaviour = behaviour with { FailAfterSeconds = Seconds(value, field, problems) };
                    break;
                case "failOnStart":
                    if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        behaviour = behaviour with { FailOnStart = value.ValueKind == JsonValueKind.True };
                    else problems?.Add(ClusterRules.Invalid(field, "must be true or false"));
                    break;
                case "busyWorkers":
                    behaviour = behaviour with { BusyWorkers = Busy(value, field, problems) };
                    break;
                case "driverConnected":
                    if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        behaviour = behaviour with { DriverConnected = value.ValueKind == JsonValueKind.True };
                    else problems?.Add(ClusterRules.Invalid(field, "must be true or false"));
                    break;
                case "agentDelaySeconds":
                    behaviour = behaviour with { AgentDelaySeconds = Seconds(value, field, problems) };
                    break;
                case var name when SimulatedJobBehaviour.Knobs.Contains(name):
                    behaviour = behaviour with { Job = SimulatedJobBehaviour.ReadKnob(behaviour.Job, name, value, field, problems) };
                    break;
                default:
                    // A misspelt knob would otherwise be ignored without a word.
                    problems?.Add(ClusterRules.Invalid(field,
                        $"is not a setting of the simulated provider (known: {string.Join(", ", Knobs)})"));
                    break;
            }
        }
        return behaviour;
    }

    /// <summary>A name from the document as a field path shows it: never long enough to echo the whole document.</summary>
    private static string Cut(string name) => name.Length <= 64 ? name : name[..64] + "...";

    internal static double? Seconds(JsonElement value, string field, List<Problem>? problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var seconds) && seconds is >= 0 and <= MaxSeconds)
            return seconds;
        problems?.Add(ClusterRules.Invalid(field,
            $"must be a number of seconds from 0 to {MaxSeconds.ToString(CultureInfo.InvariantCulture)}, got {ClusterRules.Shown(value.GetRawText())}"));
        return null;
    }

    private static ImmutableDictionary<string, int> Busy(JsonElement value, string field, List<Problem>? problems)
    {
        var busy = ImmutableDictionary.CreateBuilder<string, int>(StringComparer.Ordinal);
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems?.Add(ClusterRules.Invalid(field, "must be an object of worker group names and busy worker counts"));
            return busy.ToImmutable();
        }
        var count = 0;
        foreach (var group in value.EnumerateObject())
        {
            if (++count > ClusterRules.MaxWorkerGroups)
            {
                problems?.Add(ClusterRules.Invalid(field, $"must name at most {ClusterRules.MaxWorkerGroups} worker groups"));
                break;
            }
            if (group.Value.ValueKind == JsonValueKind.Number && group.Value.TryGetInt32(out var n) && n is >= 0 and <= ClusterRules.MaxNodesPerCluster)
                busy[group.Name] = n;
            else
                problems?.Add(ClusterRules.Invalid($"{field}.{Cut(group.Name)}",
                    $"must be a whole number from 0 to {ClusterRules.MaxNodesPerCluster}, got {ClusterRules.Shown(group.Value.GetRawText())}"));
        }
        return busy.ToImmutable();
    }
}
