using System.Text;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Turns what the state knows of an instance's processes into the provider's <see cref="ProviderObservation"/>: its
/// phase, the nodes, the endpoints, when to look again, and a status message that says what to do when something is
/// wrong.
/// </summary>
internal sealed class ObservationBuilder(LocalProviderOptions options, LocalPaths paths, NodeLauncher launcher)
{
    private const int TailLines = 15;
    /// <summary>A head whose dashboard has not answered by then is probably missing something; the message says what.</summary>
    private static readonly TimeSpan SlowHead = TimeSpan.FromSeconds(60);

    public ProviderObservation Observe(ProviderClusterRequest request, LocalInstanceState state, long now, NextEvent? next)
    {
        var head = state.Nodes.First(n => n.IsHead);
        var headCommand = launcher.Command(request, state, head);
        var nodes = new List<ObservedNode>();
        var failed = state.FailureMessage is not null;
        foreach (var node in state.Nodes)
        {
            if (!failed && node.StopRequestedAt is not null) continue; // scaled away: no longer one of the cluster's nodes
            nodes.Add(ObserveNode(node, failed));
        }
        var endpoints = state.Ports is null
            ? ClusterEndpoints.None
            : new ClusterEndpoints(
                DashboardUrl: launcher.DashboardUrl(headCommand),
                JobUrl: launcher.DashboardUrl(headCommand),
                JobUrlInner: launcher.DashboardUrl(headCommand),
                GrpcEndpoint: $"ray://{LocalProvider.NodeIp}:{headCommand.IntValue("--ray-client-server-port") ?? state.Ports.Client}");
        var wanted = request.Spec.Head.EnableAutoScaling
            ? request.Spec.Workers.ToDictionary(g => g.GroupName, request.Spec.TargetReplicas, StringComparer.Ordinal)
            : new Dictionary<string, int>(StringComparer.Ordinal);
        if (failed)
            return new ProviderObservation { Phase = ObservedPhase.Failed, Message = state.FailureMessage, Nodes = nodes, Endpoints = endpoints, WantedReplicas = wanted };

        var workers = state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null).ToList();
        var running = workers.Count(w => w.Pid is not null);
        var ready = head.Pid is not null && head.ReadyAt is not null && running == workers.Count;
        var logs = paths.LogsDir(state.InstanceId);
        string message;
        if (ready)
        {
            message = $"Running on this machine (local provider): head and {workers.Count} worker(s) as ray processes. Logs: {logs}";
        }
        else if (head.ReadyAt is null && head.StartedAt is { } started && now - started > SlowHead.TotalMilliseconds)
        {
            // Plain `pip install ray` has no dashboard: the head runs, but nothing ever answers the health request.
            message = $"The head has run for over {SlowHead.TotalSeconds:0} seconds and its dashboard does not answer {launcher.DashboardUrl(headCommand)}{HeadHealthProbe.HealthPath}. "
                      + $"The local provider needs Ray with its dashboard (pip install \"ray[default]=={NodeLauncher.ReleaseOf(request, head).RayVersion}\"), "
                      + $"or --include-dashboard=false in the head's rayStartParams. Log: {paths.NodeLog(state.InstanceId, head.Id)}";
        }
        else if (head.ReadyAt is null)
        {
            message = $"Starting on this machine (local provider): waiting for the head's dashboard to answer {launcher.DashboardUrl(headCommand)}{HeadHealthProbe.HealthPath}. Logs: {logs}";
        }
        else if (workers.FirstOrDefault(w => w.Pid is null && w.LastExitAt is not null) is { } crashed)
        {
            message = $"Worker {crashed.Id} exited"
                      + (crashed.LastExitCode is { } c ? $" with code {c}{SignalName(c)}" : "")
                      + (crashed.LastError is { } e ? $" ({e})" : "")
                      + $" and is started again after a backoff; it has been restarted {crashed.Restarts} time(s). Log: {paths.NodeLog(state.InstanceId, crashed.Id)}";
        }
        else
        {
            message = $"Starting on this machine (local provider): {running} of {workers.Count} worker(s) running. Logs: {logs}";
        }

        var requeue = ready ? options.SupervisionInterval : options.ReadinessPoll();
        if (next?.Earliest is { } at) requeue = TimeSpan.FromMilliseconds(Math.Max(0, Math.Min(requeue.TotalMilliseconds, at - now)));
        if (next?.SoonAfter is { } soon && soon < requeue) requeue = soon;
        return new ProviderObservation
        {
            Phase = ready ? ObservedPhase.Ready : ObservedPhase.Pending,
            Message = message,
            Nodes = nodes,
            Endpoints = endpoints,
            WantedReplicas = wanted,
            RequeueAfter = requeue,
        };
    }

    public static ProviderObservation FailedWithoutState(string message) =>
        new() { Phase = ObservedPhase.Failed, Message = message, Nodes = [] };

    /// <summary>The instance's failure message once its head exited: how it ended and the last lines of its log.</summary>
    public string HeadFailureMessage(LocalInstanceState state, LocalNodeState head)
    {
        var log = paths.NodeLog(state.InstanceId, head.Id);
        var how = head.LastExitCode is { } code
            ? $"exited with code {code}{SignalName(code)}"
            : "exited; its exit code is unknown because its wrapper shell was killed as well";
        var tail = Tail(log);
        return $"The Ray head {head.Id} {how}."
               + (tail.Length > 0 ? $" Last lines of {log}:\n{tail}\n" : $" Its log {log} is empty. ")
               + "Start the cluster again to run it on fresh processes.";
    }

    private static ObservedNode ObserveNode(LocalNodeState node, bool failed)
    {
        var type = node.IsHead ? "Head" : "Worker";
        var restarts = node.Restarts > 0
            ? $"restarted {node.Restarts} time(s)" + (node.LastExitCode is { } last ? $", last exit code {last}{SignalName(last)}" : "")
            : "";
        if (failed)
        {
            var headFailed = node.IsHead;
            return new ObservedNode
            {
                NodeId = node.Id, Type = type, GroupName = node.Group, Phase = "Failed",
                Reason = headFailed ? "Error" : "HeadFailed",
                Message = headFailed ? "the ray head process exited" : "stopped because the head exited",
                ContainerState = "Terminated", ContainerStateReason = headFailed ? "Error" : "HeadFailed",
                ExitCode = node.LastExitCode ?? (headFailed ? -1 : 0),
                CreateTime = node.CreatedAt, StartTime = node.StartedAt,
            };
        }
        if (node.Pid is not null)
        {
            var ready = node.ReadyAt is not null;
            return new ObservedNode
            {
                NodeId = node.Id, Type = type, GroupName = node.Group,
                Phase = ready ? "Running" : "Pending",
                Reason = ready ? "" : "Starting",
                Message = ready ? restarts : "waiting for the dashboard to answer its health request",
                ContainerState = "Running",
                ExitCode = node.LastExitCode ?? 0,
                CreateTime = node.CreatedAt, StartTime = node.StartedAt,
            };
        }
        var crashed = node.LastExitAt is not null || node.LastError is not null;
        return new ObservedNode
        {
            NodeId = node.Id, Type = type, GroupName = node.Group, Phase = "Pending",
            Reason = crashed ? "CrashLoopBackOff" : "",
            Message = crashed
                ? (node.LastExitCode is { } c ? $"exited with code {c}{SignalName(c)}; " : "") + (node.LastError is { } e ? e + "; " : "") + "starts again after a backoff" + (restarts.Length > 0 ? "; " + restarts : "")
                : "waiting for the head",
            ContainerState = "Waiting",
            ContainerStateReason = crashed ? "CrashLoopBackOff" : "ContainerCreating",
            ExitCode = node.LastExitCode ?? 0,
            CreateTime = node.CreatedAt,
        };
    }

    private static string Tail(string path)
    {
        try
        {
            if (!File.Exists(path)) return "";
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = Math.Min(stream.Length, 8192);
            stream.Seek(-length, SeekOrigin.End);
            var buffer = new byte[length];
            stream.ReadExactly(buffer);
            var lines = Encoding.UTF8.GetString(buffer).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
            if (length == 8192 && lines.Count > 0) lines.RemoveAt(0); // probably cut in the middle
            var tail = string.Join('\n', lines.TakeLast(TailLines));
            return tail.Length > 3000 ? tail[^3000..] : tail;
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string SignalName(int code) => code switch
    {
        137 => " (SIGKILL)",
        143 => " (SIGTERM)",
        139 => " (SIGSEGV)",
        134 => " (SIGABRT)",
        _ => "",
    };
}
