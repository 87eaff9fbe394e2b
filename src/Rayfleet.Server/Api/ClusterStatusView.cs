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

    public static ClusterStatusView Of(ClusterRow row, ClusterSpec? spec = null)
    {
        var observed = new ClusterStatusView(row.State ?? ClusterState.Starting, row.Message, row.Modified, NewInstance: false);
        if (row.ObservedGeneration >= row.Generation && row.State is not null) return observed;
        if (!row.DesiredRunning) return observed with { State = ClusterState.Stopping, Message = StoppingMessage };
        if (row.InstanceId != row.ObservedInstanceId || row.RunSpecJson is null)
            return new ClusterStatusView(ClusterState.Starting, ClusterState.WaitingMessage, Modified: false, NewInstance: true);
        // A spec change on the running instance: live fields reach it, the rest is flagged for the next Start.
        spec ??= ClusterSpec.FromJson(row.SpecJson);
        return observed with { Modified = ClusterSpec.FromJson(row.RunSpecJson).WithLiveFieldsFrom(spec).NeedsRestartToMatch(spec) };
    }
}
