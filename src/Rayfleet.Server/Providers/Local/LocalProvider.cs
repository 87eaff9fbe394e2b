using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Runs each cluster instance as real <c>ray start --block</c> processes on this machine: one head and the granted
/// workers, each started by the <see cref="NodeLauncher"/> in its own session under a wrapper shell. What the provider
/// knows lives in <c>{DataDirectory}/local/{instanceId}/state.json</c>, so a restarted service adopts the processes
/// that still run (same pid and start time) instead of starting them twice.
///
/// Supervision happens in <see cref="ApplyAsync"/>: the reconciler comes back every
/// <see cref="LocalProviderOptions.SupervisionInterval"/> (the observation's RequeueAfter), and each call has the
/// <see cref="NodeSupervisor"/> notice dead processes, restart crashed workers after a backoff and fail the instance
/// when its head dies; the <see cref="HeadHealthProbe"/> says when a started head is ready, and the
/// <see cref="ObservationBuilder"/> reports what runs.
/// </summary>
public sealed partial class LocalProvider : IClusterProvider, IDisposable
{
    public const string NodeIp = "127.0.0.1";

    private readonly KeyedGates _gates = new();
    private readonly LocalProviderOptions _options;
    private readonly LocalPaths _paths;
    private readonly LocalStateStore _store;
    private readonly PortAllocator _ports;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalProvider> _logger;
    private readonly IHttpClientFactory _httpClients;
    private readonly NodeLauncher _launcher;
    private readonly NodeSupervisor _supervisor;
    private readonly HeadHealthProbe _health = new();
    private readonly ObservationBuilder _observations;

    public LocalProvider(IOptions<LocalProviderOptions> options, DataFolder data, TimeProvider time, IHttpClientFactory httpClients, ILogger<LocalProvider> logger)
    {
        _httpClients = httpClients;
        _options = options.Value;
        _paths = new LocalPaths(data.Path, _options.EffectiveTempRoot(data.Path));
        _store = new LocalStateStore(_paths);
        _ports = new PortAllocator(_options, _store);
        _time = time;
        _logger = logger;
        _launcher = new NodeLauncher(_options, _paths, _store, logger);
        _observations = new ObservationBuilder(_options, _paths, _launcher);
        _supervisor = new NodeSupervisor(_options, _paths, _store, _ports, _launcher, _observations, logger);
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
            if (_launcher.MissingCommand(request) is { } missing) return ObservationBuilder.FailedWithoutState(missing);
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
                return ObservationBuilder.FailedWithoutState($"The local provider's port range {_options.PortRangeStart}-{_options.PortRangeEnd} has no {PortAllocator.PortsPerHead} free ports left for a head. "
                                                             + "Stop or delete clusters, or widen Rayfleet:Local:PortRangeStart/PortRangeEnd.");
            LogCreated(_logger, request.InstanceId, state.Ports!.Gcs, state.Ports.Dashboard, state.Ports.Client);
        }

        if (state.FailureMessage is not null) return _observations.Observe(request, state, now, null);
        if (state.Stopped || state.StopRequestedAt is not null)
            return ObservationBuilder.FailedWithoutState($"Instance {state.InstanceId} was stopped on the local provider; start the cluster again for a new instance.");

        var before = LocalStateStore.Snapshot(state);
        var processes = new InstanceProcesses(_paths.Root, state.InstanceId);
        var next = new NextEvent(now);

        _supervisor.UpdateWorkerSet(request, state, now, processes);
        _supervisor.FinishDraining(state, now, processes, next);
        _supervisor.KillStraysOnce(state, processes);

        var headNode = state.Nodes.First(n => n.IsHead);
        var headCommand = _launcher.Command(request, state, headNode);
        // Kept for the job API (JobApiAsync has no request to read the head's rayStartParams from), and for the probe.
        state.DashboardDisabled = NodeLauncher.DashboardDisabled(headCommand);
        state.DashboardUrl = state.DashboardDisabled ? null : _launcher.DashboardUrl(headCommand);
        switch (_supervisor.Check(state, headNode, processes, now))
        {
            case NodeCheck.Exited:
                _supervisor.FailHead(state, headNode, now, processes);
                break;
            case NodeCheck.NotRunning:
                if (_launcher.Start(request, state, headNode, headCommand, now) is { } error)
                {
                    state.FailureMessage = $"The Ray head {headNode.Id} could not be started: {error}";
                    _supervisor.StopWorkersAfterHeadFailure(state, now, processes);
                }
                next.Soon(_options.ReadinessPoll());
                break;
            case NodeCheck.Running when headNode.ReadyAt is null:
                if (await _health.IsHealthyAsync(state, ct)) headNode.ReadyAt = now;
                else next.Soon(_options.ReadinessPoll());
                break;
        }

        if (state.FailureMessage is null) _supervisor.SuperviseWorkers(request, state, headNode, now, processes, next);

        if (LocalStateStore.Snapshot(state) != before) _store.Save(state);
        return _observations.Observe(request, state, now, next);
    }

    /// <inheritdoc cref="NodeSupervisor.Remove"/>
    public async Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(instanceId, cancellationToken))
        {
            return _supervisor.Remove(instanceId, Now());
        }
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

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    public void Dispose()
    {
        _launcher.Dispose();
        _health.Dispose();
        _gates.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Local instance {InstanceId} created: GCS port {Gcs}, dashboard port {Dashboard}, client port {Client}")]
    private static partial void LogCreated(ILogger logger, string instanceId, int gcs, int dashboard, int client);
}
