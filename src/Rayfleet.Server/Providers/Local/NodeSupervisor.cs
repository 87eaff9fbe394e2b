using System.Collections.Concurrent;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Server.Providers.Local;

/// <summary>What a look at one node's process found.</summary>
internal enum NodeCheck
{
    Running,
    NotRunning,
    Exited,
}

/// <summary>
/// Watches an instance's node processes and acts on what it finds: adopts a node whose start never reached the state
/// file, notices dead processes, restarts crashed workers after a backoff, fails the instance when its head dies,
/// drains scaled-away workers and stops whole instances (SIGTERM, then SIGKILL after the grace period).
/// </summary>
internal sealed partial class NodeSupervisor(
    LocalProviderOptions options, LocalPaths paths, LocalStateStore store, PortAllocator ports, NodeLauncher launcher,
    ObservationBuilder observations, ILogger logger)
{
    private readonly ConcurrentDictionary<string, bool> _strayChecked = new(StringComparer.Ordinal);

    /// <summary>
    /// Looks at a node's process. Running: the recorded pid is alive with the recorded start time. Exited: it was
    /// running and is gone now (its exit code and time are recorded, its leftovers killed). NotRunning: nothing was
    /// started, or a start whose pid never reached the state file is found and adopted (then Running).
    /// </summary>
    public NodeCheck Check(LocalInstanceState state, LocalNodeState node, InstanceProcesses processes, long now)
    {
        if (node.Pid is { } pid)
        {
            if (node.StartTicks is { } ticks && ProcFs.IsSameProcess(pid, ticks)) return NodeCheck.Running;
            node.LastExitCode = launcher.CollectExitCode(state.InstanceId, node.Id, pid);
            node.LastExitAt = now;
            node.Pid = null;
            node.StartTicks = null;
            KillNodeProcesses(node, processes);
            return NodeCheck.Exited;
        }
        // The service may have died between starting this node and saving its pid: the wrapper shell, leader of its
        // own session and marked with the node id, is then adopted rather than started a second time.
        if (processes.Of(node.Id).FirstOrDefault(p => p.IsSessionLeader) is { } leader)
        {
            node.Pid = leader.Pid;
            node.StartTicks = leader.Stat.StartTicks;
            node.StartedAt = ProcFs.StartTimeMs(leader.Stat.StartTicks) ?? now;
            if (!node.IsHead) node.ReadyAt = node.StartedAt;
            LogAdopted(logger, node.Id, leader.Pid);
            return NodeCheck.Running;
        }
        KillNodeProcesses(node, processes);
        return NodeCheck.NotRunning;
    }

    public void UpdateWorkerSet(ProviderClusterRequest request, LocalInstanceState state, long now, InstanceProcesses processes)
    {
        // Groups dropped from the spec lose their nodes; the rest get exactly the granted count, newest stopped first.
        foreach (var node in state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null && !request.Spec.Workers.Any(g => g.GroupName == n.Group)))
            BeginDrain(node, now, processes);
        foreach (var group in request.Spec.Workers)
        {
            var target = request.Replicas.TryGetValue(group.GroupName, out var r) ? r : 0;
            var active = state.Nodes.Where(n => n.Group == group.GroupName && n.StopRequestedAt is null)
                .OrderBy(n => n.CreatedAt).ThenBy(n => n.Id, StringComparer.Ordinal).ToList();
            for (var i = active.Count; i < target; i++)
                state.Nodes.Add(new LocalNodeState { Id = Ids.WorkerNode(request.ClusterId, group.GroupName), Group = group.GroupName, CreatedAt = now });
            foreach (var extra in active.Skip(target)) BeginDrain(extra, now, processes);
        }
    }

    public void FinishDraining(LocalInstanceState state, long now, InstanceProcesses processes, NextEvent next)
    {
        foreach (var node in state.Nodes.Where(n => n.StopRequestedAt is not null).ToList())
        {
            var left = processes.Of(node.Id).ToList();
            var leaderAlive = node.Pid is { } pid && node.StartTicks is { } ticks && ProcFs.IsSameProcess(pid, ticks);
            if (left.Count == 0 && !leaderAlive)
            {
                if (node.Pid is { } gone) launcher.CollectExitCode(state.InstanceId, node.Id, gone);
                state.Nodes.Remove(node); // its agent port goes with it
                continue;
            }
            var killAt = node.StopRequestedAt!.Value + (long)options.StopGracePeriod.TotalMilliseconds;
            if (now >= killAt)
            {
                SignalNode(node, processes, ProcFs.SigKill);
                foreach (var p in left) ProcFs.Signal(p.Pid, ProcFs.SigKill);
                LogKilledAfterGrace(logger, node.Id, left.Count, options.StopGracePeriod);
            }
            else
            {
                next.At(killAt);
            }
            next.Soon(options.ReadinessPoll());
        }
    }

    /// <summary>
    /// Kills the processes marked with this instance but with no node the state knows, once per instance and service
    /// life: strays can only come from a start whose node never reached the state file, that is from an earlier life
    /// of the service (which died in between, and the node was created anew). A duplicate, so it goes at once.
    /// </summary>
    public void KillStraysOnce(LocalInstanceState state, InstanceProcesses processes)
    {
        if (!_strayChecked.TryAdd(state.InstanceId, true)) return;
        var known = state.Nodes.Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var stray in processes.All.Where(p => !known.Contains(p.NodeId)))
        {
            ProcFs.Signal(stray.Pid, ProcFs.SigKill);
            LogStray(logger, stray.Pid, stray.NodeId);
        }
    }

    /// <summary>Starts the workers that are due once the head is ready: new ones, and crashed ones after their backoff.</summary>
    public void SuperviseWorkers(ProviderClusterRequest request, LocalInstanceState state, LocalNodeState head, long now, InstanceProcesses processes, NextEvent next)
    {
        foreach (var worker in state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null))
        {
            if (Check(state, worker, processes, now) == NodeCheck.Exited) ScheduleRestart(worker, now);
            if (worker.Pid is not null || head.ReadyAt is null) continue;
            if (worker.NextStartAt is { } at && at > now)
            {
                next.At(at);
                continue;
            }
            if (worker.AgentPort is null
                && ports.AllocateAndSave(state, 1, p => worker.AgentPort = p[0]) is null)
            {
                worker.LastError = $"no free port left in {options.PortRangeStart}-{options.PortRangeEnd} for its dashboard agent";
                worker.NextStartAt = now + (long)options.SupervisionInterval.TotalMilliseconds;
                next.At(worker.NextStartAt.Value);
                continue;
            }
            if (worker.LastExitAt is not null) worker.Restarts++;
            if (launcher.Start(request, state, worker, launcher.Command(request, state, worker), now) is { } error)
            {
                worker.LastError = error;
                ScheduleRestart(worker, now);
                next.At(worker.NextStartAt!.Value);
            }
        }
    }

    public void FailHead(LocalInstanceState state, LocalNodeState head, long now, InstanceProcesses processes)
    {
        state.FailureMessage = observations.HeadFailureMessage(state, head);
        state.FailureExitCode = head.LastExitCode;
        StopWorkersAfterHeadFailure(state, now, processes);
        LogHeadFailed(logger, state.InstanceId, head.LastExitCode);
    }

    public void StopWorkersAfterHeadFailure(LocalInstanceState state, long now, InstanceProcesses processes)
    {
        // Workers cannot outlive their GCS. They get SIGTERM now; a Stop, Start or Delete finishes them off.
        foreach (var worker in state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null))
            BeginDrain(worker, now, processes);
    }

    /// <summary>
    /// Stops every process of the instance: SIGTERM to each node's process tree first, SIGKILL to what is left after
    /// the grace period. Once nothing runs, the ports are released and true is returned, with the logs and the temp
    /// folder still there (a stopped cluster's logs can be read); removing an instance that is already stopped deletes
    /// its folders. So a Stop keeps the logs, and a Delete (which removes the current instance and then every listed
    /// one) or a Start (which removes the earlier instance) takes them away.
    /// </summary>
    public bool Remove(string instanceId, long now)
    {
        LocalInstanceState? state;
        try
        {
            state = store.Load(instanceId);
        }
        catch (System.Text.Json.JsonException)
        {
            state = null; // an unreadable state is rebuilt from the processes below
        }
        var processes = new InstanceProcesses(paths.Root, instanceId);
        var live = processes.All;
        if (state is null)
        {
            if (live.Count == 0)
            {
                store.Delete(instanceId, paths.TempDir(instanceId));
                return true;
            }
            // Processes of an instance the provider has no state for (a leftover of an earlier life): stop them the
            // same way, with a state file that remembers when the grace period began.
            state = new LocalInstanceState
            {
                InstanceId = instanceId,
                ClusterId = ClusterIdOf(instanceId),
                CreatedAt = now,
                TempDir = paths.TempDir(instanceId),
            };
        }

        if (live.Count == 0)
        {
            if (state.Stopped)
            {
                store.Delete(instanceId, state.TempDir);
                LogRemoved(logger, instanceId);
                return true;
            }
            MarkStopped(state);
            store.Save(state);
            LogStopped(logger, instanceId);
            return true;
        }

        if (state.StopRequestedAt is null)
        {
            state.StopRequestedAt = now;
            state.Stopped = false;
            foreach (var node in state.Nodes) SignalNode(node, processes, ProcFs.SigTerm);
            foreach (var p in live) ProcFs.Signal(p.Pid, ProcFs.SigTerm);
            store.Save(state);
            LogStopping(logger, instanceId, live.Count);
            return false;
        }

        if (now - state.StopRequestedAt.Value >= (long)options.StopGracePeriod.TotalMilliseconds)
        {
            foreach (var node in state.Nodes) SignalNode(node, processes, ProcFs.SigKill);
            foreach (var p in live) ProcFs.Signal(p.Pid, ProcFs.SigKill);
            LogKilledAfterGrace(logger, instanceId, live.Count, options.StopGracePeriod);
        }
        return false;
    }

    private void BeginDrain(LocalNodeState node, long now, InstanceProcesses processes)
    {
        node.StopRequestedAt = now;
        SignalNode(node, processes, ProcFs.SigTerm);
        foreach (var p in processes.Of(node.Id)) ProcFs.Signal(p.Pid, ProcFs.SigTerm);
        LogDraining(logger, node.Id);
    }

    private void ScheduleRestart(LocalNodeState worker, long now)
    {
        // A worker that ran longer than the longest backoff had recovered: its next crash starts the count again.
        var ranFor = worker.StartedAt is { } started ? now - started : 0;
        worker.CrashesInARow = ranFor > options.WorkerRestartBackoffMax.TotalMilliseconds ? 1 : worker.CrashesInARow + 1;
        var delay = Core.Timing.Backoff.Exponential(options.WorkerRestartBackoffBase, options.WorkerRestartBackoffMax, worker.CrashesInARow);
        worker.NextStartAt = now + (long)delay.TotalMilliseconds;
        LogWorkerExited(logger, worker.Id, worker.LastExitCode, delay);
    }

    private void KillNodeProcesses(LocalNodeState node, InstanceProcesses processes)
    {
        foreach (var p in processes.Of(node.Id))
        {
            ProcFs.Signal(p.Pid, ProcFs.SigKill);
            LogStray(logger, p.Pid, node.Id);
        }
    }

    /// <summary>Signals the node's session (when its leader is still the recorded process) and every process marked with it.</summary>
    private static void SignalNode(LocalNodeState node, InstanceProcesses processes, int signal)
    {
        if (node.Pid is { } pid && node.StartTicks is { } ticks && ProcFs.IsSameProcess(pid, ticks))
            ProcFs.SignalGroup(pid, signal);
        foreach (var p in processes.Of(node.Id)) ProcFs.Signal(p.Pid, signal);
    }

    private void MarkStopped(LocalInstanceState state)
    {
        state.Stopped = true;
        state.StopRequestedAt = null;
        state.Ports = null;
        foreach (var node in state.Nodes)
        {
            if (node.Pid is { } pid) launcher.CollectExitCode(state.InstanceId, node.Id, pid);
            node.Pid = null;
            node.StartTicks = null;
            node.AgentPort = null;
        }
    }

    private static string ClusterIdOf(string instanceId)
    {
        var dash = instanceId.LastIndexOf('-');
        return dash > 0 ? instanceId[..dash] : instanceId;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Adopted node {NodeId}: its process {Pid} was still running")]
    private static partial void LogAdopted(ILogger logger, string nodeId, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {NodeId} exited with code {ExitCode}; starting it again in {Delay}")]
    private static partial void LogWorkerExited(ILogger logger, string nodeId, int? exitCode, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The head of instance {InstanceId} exited with code {ExitCode}; the instance has failed")]
    private static partial void LogHeadFailed(ILogger logger, string instanceId, int? exitCode);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping node {NodeId}: SIGTERM sent")]
    private static partial void LogDraining(ILogger logger, string nodeId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Killed process {Pid} of node {NodeId}: no live node of the state owns it")]
    private static partial void LogStray(ILogger logger, int pid, string nodeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping instance {InstanceId}: SIGTERM sent to {Processes} process(es)")]
    private static partial void LogStopping(ILogger logger, string instanceId, int processes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Target}: {Processes} process(es) still running after the grace period of {Grace}; sent SIGKILL")]
    private static partial void LogKilledAfterGrace(ILogger logger, string target, int processes, TimeSpan grace);

    [LoggerMessage(Level = LogLevel.Information, Message = "Instance {InstanceId} stopped: no process left, ports released, logs kept")]
    private static partial void LogStopped(ILogger logger, string instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Instance {InstanceId} removed with its logs and temp folder")]
    private static partial void LogRemoved(ILogger logger, string instanceId);
}
