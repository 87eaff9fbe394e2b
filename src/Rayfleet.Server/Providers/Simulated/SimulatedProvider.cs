using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Providers.Simulated;

/// <summary>
/// An honest in-process model of node provisioning, the way kwok serves Kubernetes: nodes take a start delay to become
/// ready, can be made to fail, scale within min/max and scale down after the idle timeout. Its "machines" are files
/// under the data folder, so they outlive a restart of the service like real resources would, and a restarted service
/// must find and adopt them or clean them up.
///
/// Per-cluster behaviour can be steered through <c>extraParam</c> (<see cref="SimulatedBehaviour"/>, validated by the API).
/// Its heads answer Ray's Job Submission API in process (SimulatedProvider.Jobs.cs).
/// </summary>
public sealed partial class SimulatedProvider(IOptions<SimulatedProviderOptions> options, DataFolder data, TimeProvider time) : IClusterProvider, IDisposable
{
    public const string EndpointHost = "simulated.rayfleet.invalid";

    private readonly KeyedGates _gates = new();
    private readonly string _root = Path.Combine(data.Path, "simulated");
    private readonly SimulatedProviderOptions _options = options.Value;

    public string Name => ProviderNames.Simulated;

    public void Dispose()
    {
        DisposeReports();
        _gates.Dispose();
    }

    public async Task<ProviderObservation> ApplyAsync(ProviderClusterRequest request, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(request.InstanceId, cancellationToken))
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var behaviour = SimulatedBehaviour.From(request.Spec.ExtraParam);
            var startDelay = (long)(behaviour.StartDelaySeconds is { } s ? s * 1000 : _options.NodeStartDelay.TotalMilliseconds);
            var state = Load(request.InstanceId);
            if (state is null)
            {
                // A new head knows no jobs, even if a crash left the jobs of an earlier instance of this id behind.
                DeleteJobs(request.InstanceId);
                state = new InstanceState { InstanceId = request.InstanceId, ClusterId = request.ClusterId, CreatedAt = now };
            }
            state.RemoveAt = null;

            var head = state.Nodes.FirstOrDefault(n => n.Group is null);
            if (head is null)
            {
                head = new NodeState { Id = Ids.HeadNode(request.ClusterId), Group = null, CreatedAt = now, ReadyAt = now + startDelay };
                if (behaviour.FailOnStart) head.FailAt = head.ReadyAt;
                else if (behaviour.FailAfterSeconds is { } f) head.FailAt = head.ReadyAt + (long)(f * 1000);
                state.Nodes.Add(head);
            }
            state.AgentDelayMs = (long)((behaviour.AgentDelaySeconds ?? 0) * 1000);
            state.JobDefaults = behaviour.Job;
            ObserveDriver(state, behaviour.DriverConnected, head, now);

            // Groups dropped from the spec lose their nodes; the rest get exactly the granted count, newest removed first.
            state.Nodes.RemoveAll(n => n.Group is not null && !request.Spec.Workers.Any(g => g.GroupName == n.Group));
            foreach (var group in request.Spec.Workers)
            {
                var target = request.Replicas.TryGetValue(group.GroupName, out var r) ? r : 0;
                var nodes = state.Nodes.Where(n => n.Group == group.GroupName).OrderBy(n => n.CreatedAt).ThenBy(n => n.Id, StringComparer.Ordinal).ToList();
                for (var i = nodes.Count; i < target; i++)
                    state.Nodes.Add(new NodeState { Id = Ids.WorkerNode(request.ClusterId, group.GroupName), Group = group.GroupName, CreatedAt = now, ReadyAt = now + startDelay });
                foreach (var extra in nodes.Skip(target))
                    state.Nodes.Remove(extra);
            }

            var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
            long? nextEvent = null;
            void At(long when)
            {
                if (when > now) nextEvent = nextEvent is null ? when : Math.Min(nextEvent.Value, when);
            }

            if (request.Spec.Head.EnableAutoScaling)
            {
                var idleTimeout = request.Spec.Head.IdleTimeoutSeconds * 1000L;
                var headReady = head.ReadyAt <= now;
                foreach (var group in request.Spec.Workers)
                {
                    var granted = request.Replicas.TryGetValue(group.GroupName, out var g) ? g : 0;
                    var busy = behaviour.BusyWorkers.TryGetValue(group.GroupName, out var b) ? b : 0;
                    // Until the head is up the autoscaler aims at the requested size; afterwards at the load.
                    var aim = Math.Clamp(Math.Max(busy, headReady ? 0 : request.Spec.TargetReplicas(group)), group.MinReplica, group.MaxReplica);
                    if (aim >= granted)
                    {
                        state.IdleSince.Remove(group.GroupName);
                        wanted[group.GroupName] = aim;
                        continue;
                    }
                    if (!state.IdleSince.TryGetValue(group.GroupName, out var idleSince))
                        state.IdleSince[group.GroupName] = idleSince = now;
                    if (now - idleSince >= idleTimeout)
                    {
                        wanted[group.GroupName] = aim;
                        state.IdleSince.Remove(group.GroupName);
                    }
                    else
                    {
                        wanted[group.GroupName] = granted;
                        At(idleSince + idleTimeout);
                    }
                }
                if (!headReady) At(head.ReadyAt);
            }

            foreach (var node in state.Nodes)
            {
                At(node.ReadyAt);
                if (node.FailAt is { } fail) At(fail);
            }

            Save(state);

            var nodesOut = state.Nodes.Select(n => Observe(n, now)).ToList();
            var failed = state.Nodes.FirstOrDefault(n => n.FailAt <= now);
            var phase = failed is not null ? ObservedPhase.Failed
                : state.Nodes.All(n => n.ReadyAt <= now) ? ObservedPhase.Ready
                : ObservedPhase.Pending;
            var message = phase switch
            {
                ObservedPhase.Failed => $"Node {failed!.Id} failed (simulated failure injected through extraParam). No Ray processes run on the simulated provider.",
                ObservedPhase.Ready => "Running on the simulated provider: no Ray processes exist.",
                _ => $"Simulated provider: {state.Nodes.Count(n => n.ReadyAt > now)} of {state.Nodes.Count} nodes still starting.",
            };
            var next = phase == ObservedPhase.Failed || nextEvent is null ? (TimeSpan?)null : TimeSpan.FromMilliseconds(nextEvent.Value - now);
            var reported = ReportAfter(request.InstanceId, request.ClusterId, next);
            var baseUrl = $"http://{EndpointHost}/{request.ClusterId}";
            return new ProviderObservation
            {
                Phase = phase,
                Message = message,
                Nodes = nodesOut,
                WantedReplicas = wanted,
                Endpoints = new ClusterEndpoints(
                    DashboardUrl: baseUrl + "/dashboard",
                    JobUrl: baseUrl + "/jobs",
                    JobUrlInner: baseUrl + "/jobs",
                    GrpcEndpoint: $"ray://{request.InstanceId}.{EndpointHost}:10001"),
                RequeueAfter = reported ? null : next,
            };
        }
    }

    public async Task<bool> RemoveAsync(string instanceId, CancellationToken cancellationToken)
    {
        using (await _gates.EnterAsync(instanceId, cancellationToken))
        {
            var state = Load(instanceId);
            if (state is null) return true;
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            if (state.RemoveAt is null)
            {
                state.RemoveAt = now + (long)_options.NodeStopDelay.TotalMilliseconds;
                // The head is told to stop now: its jobs' supervisors die with it, as they would on a real head.
                state.HeadStops.Add(now);
            }
            if (now >= state.RemoveAt)
            {
                // Jobs first: a crash in between leaves the instance file, so the repeated call finishes the job.
                DeleteJobs(instanceId);
                File.Delete(PathOf(instanceId));
                DisarmReports(instanceId);
                return true;
            }
            Save(state);
            return false;
        }
    }

    public Task<IReadOnlyList<string>> ListInstancesAsync(string? clusterId, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_root)) return Task.FromResult<IReadOnlyList<string>>([]);
        var pattern = clusterId is null ? "*.json" : clusterId + "-*.json";
        IReadOnlyList<string> ids = [.. Directory.EnumerateFiles(_root, pattern).Select(f => Path.GetFileNameWithoutExtension(f)!)];
        return Task.FromResult(ids);
    }

    private static ObservedNode Observe(NodeState node, long now)
    {
        var failed = node.FailAt <= now;
        var ready = node.ReadyAt <= now;
        return new ObservedNode
        {
            NodeId = node.Id,
            Type = node.Group is null ? "Head" : "Worker",
            GroupName = node.Group,
            Phase = failed ? "Failed" : ready ? "Running" : "Pending",
            ContainerState = failed ? "Terminated" : ready ? "Running" : "Waiting",
            ContainerStateReason = failed ? "Error" : ready ? "" : "ContainerCreating",
            Reason = failed ? "SimulatedFailure" : "",
            Message = failed ? "simulated failure" : "",
            ExitCode = failed ? 1 : 0,
            CreateTime = node.CreatedAt,
            StartTime = ready ? node.ReadyAt : null,
        };
    }


    private string PathOf(string instanceId) => Path.Combine(_root, instanceId + ".json");

    private InstanceState? Load(string instanceId)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(PathOf(instanceId));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Also what a job call outside the instance's gate sees when a removal deletes the file under it.
            return null;
        }
        var state = JsonSerializer.Deserialize(bytes, StateJson.Default.InstanceState);
        if (state is null) return null;
        // The file name is the identity; a file copied or renamed by hand must not write over another instance.
        state.InstanceId = instanceId;
        state.Stored = bytes;
        return state;
    }

    private void Save(InstanceState state)
    {
        Directory.CreateDirectory(_root);
        var path = PathOf(state.InstanceId);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(state, StateJson.Default.InstanceState);
        // A pass that changed nothing writes nothing: with 10,000 instances, a new file (and inode) per observation
        // made the file system, not the service, the cost of a burst.
        if (state.Stored is { } stored && stored.AsSpan().SequenceEqual(bytes)) return;
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        state.Stored = bytes;
    }

    /// <summary>The state files' serialization: compact, nulls left out.</summary>
    [JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonSerializable(typeof(InstanceState))]
    [JsonSerializable(typeof(JobState))]
    private sealed partial class StateJson : JsonSerializerContext;

    private sealed class InstanceState
    {
        public required string InstanceId { get; set; }
        public required string ClusterId { get; set; }
        public long CreatedAt { get; set; }
        public long? RemoveAt { get; set; }
        public List<NodeState> Nodes { get; set; } = [];
        public Dictionary<string, long> IdleSince { get; set; } = [];
        /// <summary>When the head was told to stop (each removal started); jobs running then died with it.</summary>
        public List<long> HeadStops { get; set; } = [];
        public long AgentDelayMs { get; set; }
        /// <summary>The job knobs of the cluster's extraParam, the defaults of its jobs.</summary>
        public SimulatedJobBehaviour JobDefaults { get; set; } = SimulatedJobBehaviour.None;
        public List<DriverState> Drivers { get; set; } = [];
        /// <summary>The file's bytes as last read or written.</summary>
        [JsonIgnore] public byte[]? Stored { get; set; }
    }

    private sealed class NodeState
    {
        public required string Id { get; set; }
        public string? Group { get; set; }
        public long CreatedAt { get; set; }
        public long ReadyAt { get; set; }
        public long? FailAt { get; set; }
    }
}
