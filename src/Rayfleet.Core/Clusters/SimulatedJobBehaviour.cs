using System.Globalization;
using System.Text.Json;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>
/// Per-job steering of the simulated provider, the job knobs of the <c>simulated</c> section of a job's
/// <c>extraParam</c>: <c>{"simulated": {"pendingSeconds": 1, "runSeconds": 2, "exitCode": 3}}</c>. A knob left out
/// takes the cluster's value (the same knobs in the cluster's extraParam), then the provider's configured default.
/// The section is the cluster's vocabulary too (<see cref="SimulatedBehaviour"/>): a job may carry cluster knobs for the
/// job-mode cluster built from it, and they are validated the same way.
/// </summary>
public sealed record SimulatedJobBehaviour
{
    public const int MaxExitCode = 255;

    public static readonly SimulatedJobBehaviour None = new();

    internal static readonly string[] Knobs = ["pendingSeconds", "runSeconds", "exitCode"];

    /// <summary>Seconds from submission until the entrypoint runs (Ray's PENDING).</summary>
    public double? PendingSeconds { get; init; }

    /// <summary>Seconds the entrypoint runs (Ray's RUNNING).</summary>
    public double? RunSeconds { get; init; }

    /// <summary>The entrypoint's exit code: 0 ends SUCCEEDED, anything else FAILED.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The behaviour a stored job <c>extraParam</c> asks for; a broken knob keeps its default (see <see cref="SimulatedBehaviour.From"/>).</summary>
    public static SimulatedJobBehaviour From(string? extraParam) => SimulatedBehaviour.From(extraParam).Job;

    /// <summary>
    /// Checks a job's <c>extraParam</c> as a cluster's is checked: size, a JSON document of bounded depth, and every knob
    /// of its <c>simulated</c> section (job and cluster knobs), each problem naming <c>extraParam.simulated.&lt;knob&gt;</c>.
    /// </summary>
    public static void Check(string? extraParam, List<Problem> problems) => ClusterRules.CheckExtraParam(extraParam, problems);

    /// <summary>Reads a <c>simulated</c> section, adding a problem for every broken rule; the job knobs of it.</summary>
    public static SimulatedJobBehaviour Read(JsonElement section, List<Problem>? problems) => SimulatedBehaviour.Read(section, problems).Job;

    /// <summary>This behaviour with every knob it leaves out taken from <paramref name="fallback"/>.</summary>
    public SimulatedJobBehaviour Or(SimulatedJobBehaviour fallback) => new()
    {
        PendingSeconds = PendingSeconds ?? fallback.PendingSeconds,
        RunSeconds = RunSeconds ?? fallback.RunSeconds,
        ExitCode = ExitCode ?? fallback.ExitCode,
    };

    internal static SimulatedJobBehaviour ReadKnob(SimulatedJobBehaviour job, string name, JsonElement value, string field, List<Problem>? problems) =>
        name switch
        {
            "pendingSeconds" => job with { PendingSeconds = SimulatedBehaviour.Seconds(value, field, problems) },
            "runSeconds" => job with { RunSeconds = SimulatedBehaviour.Seconds(value, field, problems) },
            "exitCode" => job with { ExitCode = ReadExitCode(value, field, problems) },
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Not a job knob."),
        };

    private static int? ReadExitCode(JsonElement value, string field, List<Problem>? problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var code) && code is >= 0 and <= MaxExitCode)
            return code;
        problems?.Add(ClusterRules.Invalid(field,
            $"must be a whole number from 0 to {MaxExitCode.ToString(CultureInfo.InvariantCulture)}, got {ClusterRules.Shown(value.GetRawText())}"));
        return null;
    }
}
