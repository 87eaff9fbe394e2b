using Rayfleet.Core.Clusters;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Api;

/// <summary>
/// What a cluster's status reads as, from its observed half and the desired change the reconciler has not acted on
/// yet (generation ahead of the observed one): an accepted Stop shows Stopping, a Create or Start a Starting new
/// instance without nodes, an Update whether it needs a restart, without the handler writing any observed field.
/// </summary>
public readonly record struct ClusterStatusView(string State, string? Message, bool Modified, bool NewInstance)
{
    public const string StoppingMessage = "Stopping.";

    public static ClusterStatusView Of(ClusterRow row, ClusterSpec? spec = null) => Of(
        new ObservedHalf(row.Generation, row.ObservedGeneration, row.DesiredRunning, row.InstanceId, row.ObservedInstanceId,
            row.State, row.Message, row.Modified, row.RunSpecJson),
        () => spec ?? ClusterSpec.FromJson(row.SpecJson));

    /// <summary>
    /// From the fields that decide it; <paramref name="spec"/> is asked for only when a spec change on the running
    /// instance is not observed yet (and then <see cref="ObservedHalf.RunSpecJson"/> must be there).
    /// </summary>
    public static ClusterStatusView Of(ObservedHalf row, Func<ClusterSpec> spec)
    {
        var observed = new ClusterStatusView(row.State ?? ClusterState.Starting, row.Message, row.Modified, NewInstance: false);
        if (row.ObservedGeneration >= row.Generation && row.State is not null) return observed;
        if (!row.DesiredRunning) return observed with { State = ClusterState.Stopping, Message = StoppingMessage };
        if (row.InstanceId != row.ObservedInstanceId || row.RunSpecJson is null)
            return new ClusterStatusView(ClusterState.Starting, ClusterState.WaitingMessage, Modified: false, NewInstance: true);
        // A spec change on the running instance: live fields reach it, the rest is flagged for the next Start.
        var desired = spec();
        return observed with { Modified = ClusterSpec.FromJson(row.RunSpecJson).WithLiveFieldsFrom(desired).NeedsRestartToMatch(desired) };
    }
}

/// <summary>The fields of a cluster row that its status as shown depends on.</summary>
public sealed record ObservedHalf(
    long Generation, long ObservedGeneration, bool DesiredRunning, string? InstanceId, string? ObservedInstanceId,
    string? State, string? Message, bool Modified, string? RunSpecJson);
