namespace Rayfleet.Core.Clusters;

/// <summary>Wire values of a Ray cluster's state (emr-api.md §3.1).</summary>
public static class ClusterState
{
    public const string Starting = "Starting";
    public const string Running = "Running";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";
    public const string Error = "Error";

    /// <summary>The message of a cluster whose new instance the reconciler has not admitted yet.</summary>
    public const string WaitingMessage = "Waiting for the reconciler to admit and start the cluster.";
}

public enum LifecycleVerdict
{
    Proceed,
    NoChange,
    Denied,
}

/// <summary>The allowed transitions of semantics.md, Lifecycle.</summary>
public static class Lifecycle
{
    public static LifecycleVerdict Start(string state) => state switch
    {
        ClusterState.Stopped or ClusterState.Error => LifecycleVerdict.Proceed,
        ClusterState.Starting or ClusterState.Running => LifecycleVerdict.NoChange,
        _ => LifecycleVerdict.Denied,
    };

    public static LifecycleVerdict Stop(string state) => state switch
    {
        ClusterState.Starting or ClusterState.Running or ClusterState.Error => LifecycleVerdict.Proceed,
        _ => LifecycleVerdict.NoChange,
    };

    public static LifecycleVerdict Update(string state) =>
        state == ClusterState.Stopping ? LifecycleVerdict.Denied : LifecycleVerdict.Proceed;
}
