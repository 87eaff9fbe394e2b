using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Runs each cluster instance as real <c>ray start --block</c> processes on this machine: one head and the granted
/// workers, each in its own session (<c>setsid</c>) under a small wrapper shell that sends its output to a log file and
/// records ray's exit code. What the provider knows lives in <c>{DataDirectory}/local/{instanceId}/state.json</c>, so
/// a restarted service adopts the processes that still run (same pid and start time) instead of starting them twice.
///
/// Supervision happens in <see cref="ApplyAsync"/>: the reconciler comes back every
/// <see cref="LocalProviderOptions.SupervisionInterval"/> (the observation's RequeueAfter), and each call notices dead
/// processes, restarts crashed workers after a backoff and fails the instance when its head dies.
/// </summary>
public sealed partial class LocalProvider : IClusterProvider, IDisposable
{
    public const string NodeIp = "127.0.0.1";
    private const string HealthPath = "/api/gcs_healthz";
    private const int TailLines = 15;
    /// <summary>A head whose dashboard has not answered by then is probably missing something; the message says what.</summary>
    private static readonly TimeSpan SlowHead = TimeSpan.FromSeconds(60);

    // $1 log file, $2 exit-code file, then ray and its arguments. ray runs as a child (not exec'd) so that its exit
    // code is written even when nobody waits for the shell, such as after a crash of the service.
    private const string WrapperScript =
        "log=$1; exitfile=$2; shift 2\n" +
        "exec </dev/null >>\"$log\" 2>&1\n" +
        "\"$@\"\n" +
        "code=$?\n" +
        "echo \"$code\" >\"$exitfile.tmp\" && mv -f \"$exitfile.tmp\" \"$exitfile\"\n" +
        "exit \"$code\"\n";

    private readonly KeyedGates _gates = new();
    private readonly LocalProviderOptions _options;
    private readonly LocalPaths _paths;
    private readonly LocalStateStore _store;
    private readonly PortAllocator _ports;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalProvider> _logger;
    // Loopback only: no proxy from the environment may stand between the service and its own heads.
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
    // Wrapper shells started by this service: kept so they are reaped and their exit codes read.
    private readonly ConcurrentDictionary<int, Process> _children = new();
    private readonly ConcurrentDictionary<string, bool> _strayChecked = new(StringComparer.Ordinal);
    private readonly Lazy<string?> _setsid = new(() => RayStartCommand.Resolve("setsid", Environment.GetEnvironmentVariable("PATH")));
    private readonly IHttpClientFactory _httpClients;

    public LocalProvider(IOptions<LocalProviderOptions> options, DataFolder data, TimeProvider time, IHttpClientFactory httpClients, ILogger<LocalProvider> logger)
    {
        _httpClients = httpClients;
        _options = options.Value;
        _paths = new LocalPaths(data.Path, _options.EffectiveTempRoot(data.Path));
        _store = new LocalStateStore(_paths);
        _ports = new PortAllocator(_options, _store);
        _time = time;
        _logger = logger;
    }

    public string Name => ProviderNames.Local;

    /// <summary>The folder of this provider's state; also the value of every node's root marker.</summary>
    public string Root => _paths.Root;

    public async Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(request.InstanceId, cancellationToken))
        {
            return await ApplyLockedAsync(request, cancellationToken);
        }
    }

    private async Task<ProviderObservation> ApplyLockedAsync(ProviderClusterRequest request, CancellationToken ct)
    {
        var now = Now();
        var state = _store.Load(request.InstanceId);
        if (state is null)
        {
            // Nothing is created for an instance that cannot start: no folder, no ports, nothing to clean up later.
            if (MissingCommand(request) is { } missing) return FailedWithoutState(missing);
            state = new LocalInstanceState
            {
                InstanceId = request.InstanceId,
                ClusterId = request.ClusterId,
                WorkspaceId = request.WorkspaceId,
                CreatedAt = now,
                TempDir = _paths.TempDir(request.InstanceId),
            };
            var head = new LocalNodeState { Id = Ids.HeadNode(request.ClusterId), CreatedAt = now };
            state.Nodes.Add(head);
            if (_ports.AllocateAndSave(state, PortAllocator.PortsPerHead, p =>
                {
                    state.Ports = new HeadPorts(p[0], p[1], p[2]);
                    head.AgentPort = p[3];
                }) is null)
                return FailedWithoutState($"The local provider's port range {_options.PortRangeStart}-{_options.PortRangeEnd} has no {PortAllocator.PortsPerHead} free ports left for a head. "
                                          + "Stop or delete clusters, or widen Rayfleet:Local:PortRangeStart/PortRangeEnd.");
            LogCreated(_logger, request.InstanceId, state.Ports!.Gcs, state.Ports.Dashboard, state.Ports.Client);
        }

        if (state.FailureMessage is not null) return Observe(request, state, now, null);
        if (state.Stopped || state.StopRequestedAt is not null)
            return FailedWithoutState($"Instance {state.InstanceId} was stopped on the local provider; start the cluster again for a new instance.");

        var before = LocalStateStore.Snapshot(state);
        var processes = new InstanceProcesses(_paths.Root, state.InstanceId);
        var next = new NextEvent(now);

        UpdateWorkerSet(request, state, now, processes);
        FinishDraining(state, now, processes, next);
        // Strays can only come from a start whose node never reached the state file, that is from an earlier life of
        // the service; one look per instance and service life finds them.
        if (_strayChecked.TryAdd(state.InstanceId, true)) KillStrays(state, processes);

        var headNode = state.Nodes.First(n => n.IsHead);
        var headCommand = Command(request, state, headNode);
        // Kept for the job API (JobApiAsync has no request to read the head's rayStartParams from).
        state.DashboardDisabled = headCommand.Value("--include-dashboard") is { } include && !IsTrue(include);
        state.DashboardUrl = state.DashboardDisabled ? null : DashboardUrl(headCommand);
        switch (Check(state, headNode, processes, now))
        {
            case NodeCheck.Exited:
                FailHead(state, headNode, now, processes);
                break;
            case NodeCheck.NotRunning:
                if (StartNode(request, state, headNode, headCommand, now) is { } error)
                {
                    state.FailureMessage = $"The Ray head {headNode.Id} could not be started: {error}";
                    StopWorkersAfterHeadFailure(state, now, processes);
                }
                next.Soon(ReadinessPoll);
                break;
            case NodeCheck.Running when headNode.ReadyAt is null:
                if (await HeadHealthyAsync(headCommand, state, ct)) headNode.ReadyAt = now;
                else next.Soon(ReadinessPoll);
                break;
        }

        if (state.FailureMessage is null)
        {
            foreach (var worker in state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null))
            {
                if (Check(state, worker, processes, now) == NodeCheck.Exited) ScheduleRestart(worker, now);
                if (worker.Pid is not null || headNode.ReadyAt is null) continue;
                if (worker.NextStartAt is { } at && at > now)
                {
                    next.At(at);
                    continue;
                }
                if (worker.AgentPort is null
                    && _ports.AllocateAndSave(state, 1, p => worker.AgentPort = p[0]) is null)
                {
                    worker.LastError = $"no free port left in {_options.PortRangeStart}-{_options.PortRangeEnd} for its dashboard agent";
                    worker.NextStartAt = now + (long)_options.SupervisionInterval.TotalMilliseconds;
                    next.At(worker.NextStartAt.Value);
                    continue;
                }
                if (worker.LastExitAt is not null) worker.Restarts++;
                if (StartNode(request, state, worker, Command(request, state, worker), now) is { } error)
                {
                    worker.LastError = error;
                    ScheduleRestart(worker, now);
                    next.At(worker.NextStartAt!.Value);
                }
            }
        }

        if (LocalStateStore.Snapshot(state) != before) _store.Save(state);
        return Observe(request, state, now, next);
    }

    public async Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(instanceId, cancellationToken))
        {
            return Remove(instanceId);
        }
    }

    /// <summary>
    /// Stops every process of the instance: SIGTERM to each node's process tree first, SIGKILL to what is left after
    /// the grace period. Once nothing runs, the ports are released and true is returned, with the logs and the temp
    /// folder still there (a stopped cluster's logs can be read); removing an instance that is already stopped deletes
    /// its folders. So a Stop keeps the logs, and a Delete (which removes the current instance and then every listed
    /// one) or a Start (which removes the earlier instance) takes them away.
    /// </summary>
    private bool Remove(string instanceId)
    {
        var now = Now();
        LocalInstanceState? state;
        try
        {
            state = _store.Load(instanceId);
        }
        catch (System.Text.Json.JsonException)
        {
            state = null; // an unreadable state is rebuilt from the processes below
        }
        var processes = new InstanceProcesses(_paths.Root, instanceId);
        var live = processes.All;
        if (state is null)
        {
            if (live.Count == 0)
            {
                _store.Delete(instanceId, _paths.TempDir(instanceId));
                return true;
            }
            // Processes of an instance the provider has no state for (a leftover of an earlier life): stop them the
            // same way, with a state file that remembers when the grace period began.
            state = new LocalInstanceState
            {
                InstanceId = instanceId,
                ClusterId = ClusterIdOf(instanceId),
                CreatedAt = now,
                TempDir = _paths.TempDir(instanceId),
            };
        }

        if (live.Count == 0)
        {
            if (state.Stopped)
            {
                _store.Delete(instanceId, state.TempDir);
                LogRemoved(_logger, instanceId);
                return true;
            }
            MarkStopped(state);
            _store.Save(state);
            LogStopped(_logger, instanceId);
            return true;
        }

        if (state.StopRequestedAt is null)
        {
            state.StopRequestedAt = now;
            state.Stopped = false;
            foreach (var node in state.Nodes) SignalNode(node, processes, ProcFs.SigTerm);
            foreach (var p in live) ProcFs.Signal(p.Pid, ProcFs.SigTerm);
            _store.Save(state);
            LogStopping(_logger, instanceId, live.Count);
            return false;
        }

        if (now - state.StopRequestedAt.Value >= (long)_options.StopGracePeriod.TotalMilliseconds)
        {
            foreach (var node in state.Nodes) SignalNode(node, processes, ProcFs.SigKill);
            foreach (var p in live) ProcFs.Signal(p.Pid, ProcFs.SigKill);
            LogKilledAfterGrace(_logger, instanceId, live.Count, _options.StopGracePeriod);
        }
        return false;
    }


    public Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken)
    {
        // Folders, and processes whose instance has no folder (a state deleted by hand, say): both hold resources.
        var ids = new SortedSet<string>(_store.InstanceIds(), StringComparer.Ordinal);
        foreach (var p in ProcFs.Scan(_paths.Root)) ids.Add(p.InstanceId);
        IReadOnlyList<string> result = clusterId is null
            ? [.. ids]
            : [.. ids.Where(id => id.StartsWith(clusterId + "-", StringComparison.Ordinal))];
        return Task.FromResult(result);
    }

    private enum NodeCheck
    {
        Running,
        NotRunning,
        Exited,
    }

    /// <summary>
    /// Looks at a node's process. Running: the recorded pid is alive with the recorded start time. Exited: it was
    /// running and is gone now (its exit code and time are recorded, its leftovers killed). NotRunning: nothing was
    /// started, or a start whose pid never reached the state file is found and adopted (then Running).
    /// </summary>
    private NodeCheck Check(LocalInstanceState state, LocalNodeState node, InstanceProcesses processes, long now)
    {
        if (node.Pid is { } pid)
        {
            if (node.StartTicks is { } ticks && ProcFs.IsSameProcess(pid, ticks)) return NodeCheck.Running;
            node.LastExitCode = CollectExitCode(state.InstanceId, node.Id, pid);
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
            LogAdopted(_logger, node.Id, leader.Pid);
            return NodeCheck.Running;
        }
        KillNodeProcesses(node, processes);
        return NodeCheck.NotRunning;
    }

    private void UpdateWorkerSet(ProviderClusterRequest request, LocalInstanceState state, long now, InstanceProcesses processes)
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

    private void BeginDrain(LocalNodeState node, long now, InstanceProcesses processes)
    {
        node.StopRequestedAt = now;
        SignalNode(node, processes, ProcFs.SigTerm);
        foreach (var p in processes.Of(node.Id)) ProcFs.Signal(p.Pid, ProcFs.SigTerm);
        LogDraining(_logger, node.Id);
    }

    private void FinishDraining(LocalInstanceState state, long now, InstanceProcesses processes, NextEvent next)
    {
        foreach (var node in state.Nodes.Where(n => n.StopRequestedAt is not null).ToList())
        {
            var left = processes.Of(node.Id).ToList();
            var leaderAlive = node.Pid is { } pid && node.StartTicks is { } ticks && ProcFs.IsSameProcess(pid, ticks);
            if (left.Count == 0 && !leaderAlive)
            {
                if (node.Pid is { } gone) CollectExitCode(state.InstanceId, node.Id, gone);
                state.Nodes.Remove(node); // its agent port goes with it
                continue;
            }
            var killAt = node.StopRequestedAt!.Value + (long)_options.StopGracePeriod.TotalMilliseconds;
            if (now >= killAt)
            {
                SignalNode(node, processes, ProcFs.SigKill);
                foreach (var p in left) ProcFs.Signal(p.Pid, ProcFs.SigKill);
                LogKilledAfterGrace(_logger, node.Id, left.Count, _options.StopGracePeriod);
            }
            else
            {
                next.At(killAt);
            }
            next.Soon(ReadinessPoll);
        }
    }

    private void KillStrays(LocalInstanceState state, InstanceProcesses processes)
    {
        // Marked with this instance but with no node the state knows: a start whose node never reached the state file
        // (the service died in between and the node was created anew). A duplicate, so it goes at once.
        var known = state.Nodes.Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var stray in processes.All.Where(p => !known.Contains(p.NodeId)))
        {
            ProcFs.Signal(stray.Pid, ProcFs.SigKill);
            LogStray(_logger, stray.Pid, stray.NodeId);
        }
    }

    private void ScheduleRestart(LocalNodeState worker, long now)
    {
        // A worker that ran longer than the longest backoff had recovered: its next crash starts the count again.
        var ranFor = worker.StartedAt is { } started ? now - started : 0;
        worker.CrashesInARow = ranFor > _options.WorkerRestartBackoffMax.TotalMilliseconds ? 1 : worker.CrashesInARow + 1;
        var delay = Math.Min(
            _options.WorkerRestartBackoffBase.TotalMilliseconds * Math.Pow(2, Math.Min(worker.CrashesInARow - 1, 30)),
            _options.WorkerRestartBackoffMax.TotalMilliseconds);
        worker.NextStartAt = now + (long)delay;
        LogWorkerExited(_logger, worker.Id, worker.LastExitCode, TimeSpan.FromMilliseconds(delay));
    }

    private void FailHead(LocalInstanceState state, LocalNodeState head, long now, InstanceProcesses processes)
    {
        var log = _paths.NodeLog(state.InstanceId, head.Id);
        var how = head.LastExitCode is { } code
            ? $"exited with code {code}{SignalName(code)}"
            : "exited; its exit code is unknown because its wrapper shell was killed as well";
        var tail = Tail(log);
        state.FailureMessage = $"The Ray head {head.Id} {how}."
                               + (tail.Length > 0 ? $" Last lines of {log}:\n{tail}\n" : $" Its log {log} is empty. ")
                               + "Start the cluster again to run it on fresh processes.";
        state.FailureExitCode = head.LastExitCode;
        StopWorkersAfterHeadFailure(state, now, processes);
        LogHeadFailed(_logger, state.InstanceId, head.LastExitCode);
    }

    private void StopWorkersAfterHeadFailure(LocalInstanceState state, long now, InstanceProcesses processes)
    {
        // Workers cannot outlive their GCS. They get SIGTERM now; a Stop, Start or Delete finishes them off.
        foreach (var worker in state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null))
            BeginDrain(worker, now, processes);
    }

    /// <summary>Starts a node's wrapper shell in a new session; null on success, else why it could not start.</summary>
    private string? StartNode(ProviderClusterRequest request, LocalInstanceState state, LocalNodeState node, RayStartCommand command, long now)
    {
        var release = ReleaseOf(request, node);
        if (RayStartCommand.Resolve(release.RayCommand, Environment.GetEnvironmentVariable("PATH")) is not { } ray)
            return MissingRayMessage(release);
        if (_setsid.Value is not { } setsid)
            return "the setsid command (util-linux) was not found on PATH; the local provider starts every node in its own session with it.";

        var log = _paths.NodeLog(state.InstanceId, node.Id);
        Directory.CreateDirectory(_paths.LogsDir(state.InstanceId));
        if (node.IsHead) Directory.CreateDirectory(state.TempDir);
        File.Delete(_paths.NodeExitFile(state.InstanceId, node.Id));
        var attempt = node.Restarts > 0 ? $" (restart {node.Restarts})" : "";
        File.AppendAllText(log, $"[rayfleet] {DateTimeOffset.FromUnixTimeMilliseconds(now):O} starting {node.Id}{attempt}: {ray} {string.Join(' ', command.Arguments)}\n");

        var start = new ProcessStartInfo(setsid)
        {
            UseShellExecute = false,
            WorkingDirectory = _paths.InstanceDir(state.InstanceId),
        };
        foreach (var a in new[] { "/bin/sh", "-c", WrapperScript, "rayfleet-node", log, _paths.NodeExitFile(state.InstanceId, node.Id), ray })
            start.ArgumentList.Add(a);
        foreach (var a in command.Arguments) start.ArgumentList.Add(a);
        foreach (var (key, value) in ClusterRules.ParseEnv(node.IsHead ? request.Spec.Head.Env : GroupOf(request, node)?.Env))
            start.Environment[key] = value;
        // Set last: the markers identify the node's processes, whatever the user's env says.
        start.Environment[ProcFs.RootMarker] = _paths.Root;
        start.Environment[ProcFs.InstanceMarker] = state.InstanceId;
        start.Environment[ProcFs.NodeMarker] = node.Id;

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process was started");
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return $"starting {setsid} failed: {ex.Message}";
        }
        _children[process.Id] = process;
        node.Pid = process.Id;
        // -1 when it is gone already: the next look finds it exited and reads its exit code.
        node.StartTicks = ProcFs.ReadStat(process.Id)?.StartTicks ?? -1;
        node.StartedAt = now;
        node.ReadyAt = node.IsHead ? null : now;
        node.NextStartAt = null;
        node.LastError = null;
        // Saved at once: a service that dies from here on finds the pid and adopts the node.
        _store.Save(state);
        LogStarted(_logger, node.Id, process.Id, command.Arguments.Count);
        return null;
    }

    private RayStartCommand Command(ProviderClusterRequest request, LocalInstanceState state, LocalNodeState node)
    {
        var ports = state.Ports ?? new HeadPorts(0, 0, 0);
        string cpu, memory;
        string? parameters;
        ProviderNodeGroup nodes;
        if (node.IsHead)
        {
            (cpu, memory, parameters, nodes) = (request.Spec.Head.Cpu, request.Spec.Head.Memory, request.Spec.Head.RayStartParams, request.Head);
        }
        else
        {
            var group = GroupOf(request, node)!;
            (cpu, memory, parameters, nodes) = (group.Cpu, group.Memory, group.RayStartParams, request.NodesOf(group.GroupName));
        }
        return RayStartCommand.For(new NodeLaunch
        {
            IsHead = node.IsHead,
            NodeIp = NodeIp,
            GcsPort = ports.Gcs,
            DashboardPort = ports.Dashboard,
            DashboardHost = _options.DashboardHost,
            ClientPort = ports.Client,
            AgentPort = node.AgentPort ?? 0,
            CpuMillis = Quantity.ParseCpuMillis(cpu) ?? 1000,
            MemoryBytes = Quantity.ParseMemoryBytes(memory) ?? 0,
            Gpus = nodes.GpusPerNode,
            TempDir = state.TempDir,
            RayStartParams = parameters,
        });
    }

    private async Task<bool> HeadHealthyAsync(RayStartCommand head, LocalInstanceState state, CancellationToken ct)
    {
        // The dashboard's health route answers once the GCS is up. A head started without the dashboard is ready when
        // its GCS port accepts connections.
        if (head.Value("--include-dashboard") is { } include && !IsTrue(include))
        {
            try
            {
                using var client = new TcpClient();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(1));
                await client.ConnectAsync(NodeIp, state.Ports!.Gcs, timeout.Token);
                return true;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                return false;
            }
        }
        try
        {
            using var response = await _http.GetAsync(DashboardUrl(head) + HealthPath, ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    private ProviderObservation Observe(ProviderClusterRequest request, LocalInstanceState state, long now, NextEvent? next)
    {
        var head = state.Nodes.First(n => n.IsHead);
        var headCommand = Command(request, state, head);
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
                DashboardUrl: DashboardUrl(headCommand),
                JobUrl: DashboardUrl(headCommand),
                JobUrlInner: DashboardUrl(headCommand),
                GrpcEndpoint: $"ray://{NodeIp}:{headCommand.IntValue("--ray-client-server-port") ?? state.Ports.Client}");
        var wanted = request.Spec.Head.EnableAutoScaling
            ? request.Spec.Workers.ToDictionary(g => g.GroupName, request.Spec.TargetReplicas, StringComparer.Ordinal)
            : new Dictionary<string, int>(StringComparer.Ordinal);
        if (failed)
            return new ProviderObservation { Phase = ObservedPhase.Failed, Message = state.FailureMessage, Nodes = nodes, Endpoints = endpoints, WantedReplicas = wanted };

        var workers = state.Nodes.Where(n => !n.IsHead && n.StopRequestedAt is null).ToList();
        var running = workers.Count(w => w.Pid is not null);
        var ready = head.Pid is not null && head.ReadyAt is not null && running == workers.Count;
        var logs = _paths.LogsDir(state.InstanceId);
        string message;
        if (ready)
        {
            message = $"Running on this machine (local provider): head and {workers.Count} worker(s) as ray processes. Logs: {logs}";
        }
        else if (head.ReadyAt is null && head.StartedAt is { } started && now - started > SlowHead.TotalMilliseconds)
        {
            // Plain `pip install ray` has no dashboard: the head runs, but nothing ever answers the health request.
            message = $"The head has run for over {SlowHead.TotalSeconds:0} seconds and its dashboard does not answer {DashboardUrl(headCommand)}{HealthPath}. "
                      + $"The local provider needs Ray with its dashboard (pip install \"ray[default]=={ReleaseOf(request, head).RayVersion}\"), "
                      + $"or --include-dashboard=false in the head's rayStartParams. Log: {_paths.NodeLog(state.InstanceId, head.Id)}";
        }
        else if (head.ReadyAt is null)
        {
            message = $"Starting on this machine (local provider): waiting for the head's dashboard to answer {DashboardUrl(headCommand)}{HealthPath}. Logs: {logs}";
        }
        else if (workers.FirstOrDefault(w => w.Pid is null && w.LastExitAt is not null) is { } crashed)
        {
            message = $"Worker {crashed.Id} exited"
                      + (crashed.LastExitCode is { } c ? $" with code {c}{SignalName(c)}" : "")
                      + (crashed.LastError is { } e ? $" ({e})" : "")
                      + $" and is started again after a backoff; it has been restarted {crashed.Restarts} time(s). Log: {_paths.NodeLog(state.InstanceId, crashed.Id)}";
        }
        else
        {
            message = $"Starting on this machine (local provider): {running} of {workers.Count} worker(s) running. Logs: {logs}";
        }

        var requeue = ready ? _options.SupervisionInterval : ReadinessPoll;
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

    private static ProviderObservation FailedWithoutState(string message) =>
        new() { Phase = ObservedPhase.Failed, Message = message, Nodes = [] };

    /// <summary>The install hint for a cluster whose ray command cannot be found, before anything is created.</summary>
    private string? MissingCommand(ProviderClusterRequest request)
    {
        var releases = new[] { request.Head.Release }.Concat(request.Spec.Workers.Select(g => request.NodesOf(g.GroupName).Release)).Distinct();
        foreach (var release in releases)
            if (RayStartCommand.Resolve(release.RayCommand, Environment.GetEnvironmentVariable("PATH")) is null)
                return MissingRayMessage(release);
        if (_setsid.Value is null)
            return "The local provider needs the setsid command (util-linux) on PATH to start each Ray node in its own session. "
                   + "Install util-linux, or create the workspace with provider \"simulated\".";
        return null;
    }

    private static string MissingRayMessage(ReleaseVersion release)
    {
        var setting = $"{release.Setting}:RayCommand";
        var install = $"pip install \"ray[default]=={release.RayVersion}\"";
        return release.RayCommand.Contains('/', StringComparison.Ordinal)
            ? $"The ray command '{release.RayCommand}' for release version '{release.DisplayReleaseVersion}' does not exist or is not executable. "
              + $"Install Ray ({install}) and set {setting} to the path of its ray command, or create the workspace with provider \"simulated\"."
            : $"The ray command '{release.RayCommand}' for release version '{release.DisplayReleaseVersion}' was not found on PATH. "
              + $"Install Ray ({install}) or set {setting} to its path, or create the workspace with provider \"simulated\".";
    }

    private static ReleaseVersion ReleaseOf(ProviderClusterRequest request, LocalNodeState node) =>
        node.IsHead ? request.Head.Release
        : GroupOf(request, node) is { } group ? request.NodesOf(group.GroupName).Release
        : request.Release;

    private static WorkerGroupSpec? GroupOf(ProviderClusterRequest request, LocalNodeState node) =>
        request.Spec.Workers.FirstOrDefault(g => g.GroupName == node.Group);

    private string DashboardUrl(RayStartCommand head)
    {
        var host = head.Value("--dashboard-host") ?? _options.DashboardHost;
        if (host is "0.0.0.0" or "::" or "localhost") host = NodeIp;
        if (host.Contains(':', StringComparison.Ordinal)) host = $"[{host}]";
        return $"http://{host}:{head.IntValue("--dashboard-port")}";
    }

    private int? CollectExitCode(string instanceId, string nodeId, int pid)
    {
        // The wrapper's file has ray's own code, also for a node that ended while the service was down; the shell's
        // code (128 + signal when it was killed) is the fallback.
        int? code = null;
        if (_children.TryRemove(pid, out var process))
        {
            using (process)
            {
                if (process.WaitForExit(TimeSpan.FromSeconds(1))) code = process.ExitCode;
            }
        }
        try
        {
            var file = _paths.NodeExitFile(instanceId, nodeId);
            if (File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture, out var written)) code = written;
        }
        catch (IOException)
        {
        }
        return code;
    }

    private void KillNodeProcesses(LocalNodeState node, InstanceProcesses processes)
    {
        foreach (var p in processes.Of(node.Id))
        {
            ProcFs.Signal(p.Pid, ProcFs.SigKill);
            LogStray(_logger, p.Pid, node.Id);
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
            if (node.Pid is { } pid) CollectExitCode(state.InstanceId, node.Id, pid);
            node.Pid = null;
            node.StartTicks = null;
            node.AgentPort = null;
        }
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

    private static bool IsTrue(string value) => value.ToLowerInvariant() is "true" or "1" or "yes" or "y" or "t" or "on";

    private static string ClusterIdOf(string instanceId)
    {
        var dash = instanceId.LastIndexOf('-');
        return dash > 0 ? instanceId[..dash] : instanceId;
    }

    private TimeSpan ReadinessPoll => _options.SupervisionInterval < TimeSpan.FromMilliseconds(250) ? _options.SupervisionInterval : TimeSpan.FromMilliseconds(250);

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();


    public void Dispose()
    {
        // Node processes are meant to outlive the service: only the handles go.
        foreach (var process in _children.Values) process.Dispose();
        _children.Clear();
        _http.Dispose();
        _gates.Dispose();
    }

    /// <summary>
    /// The marked processes of one instance, read from /proc on first use only: a healthy instance is checked by its
    /// nodes' pids and start times alone, and the full scan (every process's environment) happens when something
    /// changed.
    /// </summary>
    private sealed class InstanceProcesses(string root, string instanceId)
    {
        private List<MarkedProcess>? _all;

        public List<MarkedProcess> All => _all ??= [.. ProcFs.Scan(root).Where(p => p.InstanceId == instanceId)];

        public IEnumerable<MarkedProcess> Of(string nodeId) => All.Where(p => p.NodeId == nodeId);
    }

    /// <summary>The earliest time something is due, and whether something wants a look again soon.</summary>
    private sealed class NextEvent(long now)
    {
        public long? Earliest { get; private set; }
        public TimeSpan? SoonAfter { get; private set; }

        public void At(long when)
        {
            if (when > now) Earliest = Earliest is null ? when : Math.Min(Earliest.Value, when);
            else Soon(TimeSpan.Zero);
        }

        public void Soon(TimeSpan after)
        {
            if (SoonAfter is null || after < SoonAfter) SoonAfter = after;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Local instance {InstanceId} created: GCS port {Gcs}, dashboard port {Dashboard}, client port {Client}")]
    private static partial void LogCreated(ILogger logger, string instanceId, int gcs, int dashboard, int client);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started node {NodeId} as pid {Pid} ({Arguments} ray start arguments)")]
    private static partial void LogStarted(ILogger logger, string nodeId, int pid, int arguments);

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
