using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Rayfleet.Server.Providers;
using Rayfleet.Server.Providers.Kubernetes;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

[Collection(KubernetesCollection.Name)]
public sealed class StatusMappingTests
{
    private static JsonObject Cluster(JsonObject? status, long generation = 1)
    {
        var m = Build(Named("two worker groups, mixed case and millicores"));
        m["metadata"]!["generation"] = generation;
        if (status is not null) m["status"] = status;
        return m;
    }

    private static JsonObject Status(string? headReady, string? provisioned, string? replicaFailure, string? suspended, int ready = 3, int desired = 3)
    {
        var conditions = new JsonArray();
        if (headReady is not null) conditions.Add(FakeKubeRay.Condition("HeadPodReady", headReady, headReady == "True" ? "HeadPodRunningAndReady" : "HeadPodNotFound"));
        if (provisioned is not null) conditions.Add(FakeKubeRay.Condition("RayClusterProvisioned", provisioned, "AllPodRunningAndReadyFirstTime"));
        if (replicaFailure is not null) conditions.Add(FakeKubeRay.Condition("ReplicaFailure", replicaFailure, "FailedCreateWorkerPod", "pods \"w\" is forbidden: exceeded quota"));
        if (suspended is not null) conditions.Add(FakeKubeRay.Condition("RayClusterSuspended", suspended, "RayClusterSuspended"));
        return new JsonObject
        {
            // The deprecated state stays "ready" whatever happens (kuberay#2188): the mapping must not read it.
            ["state"] = "ready",
            ["observedGeneration"] = 1,
            ["readyWorkerReplicas"] = ready,
            ["desiredWorkerReplicas"] = desired,
            ["conditions"] = conditions,
        };
    }

    private static V1Pod Pod(string name, string type, string group, bool ready, string phase = "Running", Action<V1Pod>? change = null)
    {
        var pod = new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = Namespace,
                CreationTimestamp = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc),
                Labels = new Dictionary<string, string> { ["ray.io/cluster"] = ClusterId, ["ray.io/node-type"] = type, ["ray.io/group"] = group, ["rayfleet.io/instance-id"] = InstanceId },
            },
            Status = new V1PodStatus
            {
                Phase = phase,
                StartTime = phase == "Running" ? new DateTime(2026, 11, 1, 0, 1, 0, DateTimeKind.Utc) : null,
                Conditions = [new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False" }],
                ContainerStatuses =
                [
                    new V1ContainerStatus
                    {
                        Name = type == "head" ? "ray-head" : "ray-worker", Image = "x", ImageID = "", Ready = ready, RestartCount = 0,
                        State = phase == "Running" ? new V1ContainerState { Running = new V1ContainerStateRunning() } : new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } },
                    },
                ],
            },
        };
        change?.Invoke(pod);
        return pod;
    }

    private static List<V1Pod> AllReady() =>
    [
        Pod($"{ClusterId}-head-aaaaa", "head", "headgroup", true),
        Pod($"{ClusterId}-workergroup1-worker-bbbbb", "worker", "workergroup1", true),
        Pod($"{ClusterId}-workergroup1-worker-ccccc", "worker", "workergroup1", true),
        Pod($"{ClusterId}-small-worker-ddddd", "worker", "small", true),
    ];

    public static TheoryData<string?, string?, string?, string?, string> ConditionTable()
    {
        // HeadPodReady, RayClusterProvisioned, ReplicaFailure, RayClusterSuspended -> expected phase (workers all ready)
        var data = new TheoryData<string?, string?, string?, string?, string>();
        string?[] tri = ["True", "False", null];
        foreach (var head in tri)
            foreach (var provisioned in tri)
                foreach (var failure in new[] { "True", null })
                    foreach (var suspended in new[] { "True", "False" })
                    {
                        var headReady = head == "True" || (head is null); // absent: the (ready) head pod decides
                        var provisionedNow = provisioned == "True" || (provisioned is null && headReady);
                        var expected = suspended == "True" ? "Pending"
                            : headReady && provisionedNow && failure is null ? "Ready"
                            : "Pending";
                        data.Add(head, provisioned, failure, suspended, expected);
                    }
        return data;
    }

    [Theory]
    [MemberData(nameof(ConditionTable))]
    public void Every_condition_combination_maps_to_a_phase(string? headReady, string? provisioned, string? replicaFailure, string? suspended, string expected)
    {
        var mapped = RayClusterStatus.Map(Cluster(Status(headReady, provisioned, replicaFailure, suspended)), AllReady(), Named("two worker groups, mixed case and millicores").Spec);
        Assert.Equal(expected, mapped.Phase.ToString());
        Assert.Equal(4, mapped.Nodes.Count);
        if (replicaFailure == "True" && suspended != "True") Assert.Contains("exceeded quota", mapped.Message, StringComparison.Ordinal);
        if (suspended == "True") Assert.Contains("suspended", mapped.Message, StringComparison.Ordinal);
        if (expected == "Ready") Assert.StartsWith("Running on Kubernetes", mapped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Head_ready_with_workers_pending_is_its_own_message_and_not_ready()
    {
        var pods = AllReady();
        pods[3] = Pod($"{ClusterId}-small-worker-ddddd", "worker", "small", false, "Pending", p => p.Status.Conditions =
            [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/3 nodes are available: 3 Insufficient cpu." }]);
        var mapped = RayClusterStatus.Map(Cluster(Status("True", "False", null, null, ready: 2, desired: 3)), pods, Named("two worker groups, mixed case and millicores").Spec);
        Assert.Equal(ObservedPhase.Pending, mapped.Phase);
        Assert.Contains("Head ready; 2 of 3 worker(s) ready.", mapped.Message, StringComparison.Ordinal);
        Assert.Contains("Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.", mapped.Message, StringComparison.Ordinal);
        var node = mapped.Nodes.Single(n => n.NodeId.EndsWith("ddddd", StringComparison.Ordinal));
        Assert.Equal("Pending", node.Phase);
        Assert.Equal("Unschedulable", node.Reason);
        Assert.Equal("small", node.GroupName);
    }

    [Fact]
    public void Ready_counts_below_desired_or_a_stale_status_are_not_ready()
    {
        var spec = Named("two worker groups, mixed case and millicores").Spec;
        Assert.Equal(ObservedPhase.Pending, RayClusterStatus.Map(Cluster(Status("True", "True", null, null, ready: 2, desired: 3)), AllReady(), spec).Phase);
        // The status describes generation 1 while the spec is at 2: KubeRay has not seen the change yet.
        Assert.Equal(ObservedPhase.Pending, RayClusterStatus.Map(Cluster(Status("True", "True", null, null), generation: 2), AllReady(), spec).Phase);
        Assert.Equal(ObservedPhase.Pending, RayClusterStatus.Map(Cluster(null), [], spec).Phase);
        // A status read ahead of its pods (two watches): not ready until the pods are seen too.
        Assert.Equal(ObservedPhase.Pending, RayClusterStatus.Map(Cluster(Status("True", "True", null, null)), [], spec).Phase);
        Assert.Equal(ObservedPhase.Pending, RayClusterStatus.Map(Cluster(Status("True", "True", null, null)), AllReady().Take(3).ToList(), spec).Phase);
        Assert.Contains("Waiting for KubeRay to create the head pod", RayClusterStatus.Map(Cluster(null), [], spec).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_crash_looping_or_failed_head_is_an_error_with_reason_and_exit_code()
    {
        var spec = Named("two worker groups, mixed case and millicores").Spec;
        var pods = AllReady();
        pods[0] = Pod(pods[0].Metadata.Name, "head", "headgroup", false, change: p => p.Status.ContainerStatuses[0] = new V1ContainerStatus
        {
            Name = "ray-head", Image = "x", ImageID = "", Ready = false, RestartCount = 5,
            State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CrashLoopBackOff", Message = "back-off 5m0s" } },
            LastState = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 137, Reason = "OOMKilled" } },
        });
        var mapped = RayClusterStatus.Map(Cluster(Status("False", "True", null, null)), pods, spec);
        Assert.Equal(ObservedPhase.Failed, mapped.Phase);
        Assert.Contains("CrashLoopBackOff", mapped.Message, StringComparison.Ordinal);
        Assert.Contains("137", mapped.Message, StringComparison.Ordinal);
        Assert.Contains("OOMKilled", mapped.Message, StringComparison.Ordinal);
        var head = mapped.Nodes[0];
        Assert.Equal("Head", head.Type);
        Assert.Equal("Waiting", head.ContainerState);
        Assert.Equal("CrashLoopBackOff", head.ContainerStateReason);
        Assert.Equal(137, head.ExitCode);

        pods[0] = Pod(pods[0].Metadata.Name, "head", "headgroup", false, "Failed", p =>
        {
            p.Status.Reason = "Evicted";
            p.Status.Message = "The node was low on resource: memory.";
        });
        var evicted = RayClusterStatus.Map(Cluster(Status("False", "True", null, null)), pods, spec);
        Assert.Equal(ObservedPhase.Failed, evicted.Phase);
        Assert.Contains("Evicted: The node was low on resource: memory.", evicted.Message, StringComparison.Ordinal);

        pods[0] = Pod(pods[0].Metadata.Name, "head", "headgroup", false, "Pending", p => p.Status.ContainerStatuses[0].State =
            new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "Back-off pulling image \"rayproject/ray:nope\"" } });
        Assert.Contains("ImagePullBackOff", RayClusterStatus.Map(Cluster(Status("False", "False", null, null)), pods, spec).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nodes_carry_phase_container_state_times_and_the_groups_own_spelling()
    {
        var spec = Named("two worker groups, mixed case and millicores").Spec;
        var mapped = RayClusterStatus.Map(Cluster(Status("True", "True", null, null)), AllReady(), spec);
        Assert.Equal(["Head", "Worker", "Worker", "Worker"], mapped.Nodes.Select(n => n.Type));
        Assert.Equal([null, "WorkerGroup1", "WorkerGroup1", "small"], mapped.Nodes.Select(n => n.GroupName));
        Assert.All(mapped.Nodes, n => Assert.Equal("Running", n.ContainerState));
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 0, 1, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), mapped.Nodes[0].StartTime);
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), mapped.Nodes[0].CreateTime);
    }

    [Fact]
    public void Warning_events_are_added_to_the_message_of_a_pending_cluster()
    {
        var spec = Named("two worker groups, mixed case and millicores").Spec;
        var mapped = RayClusterStatus.Map(Cluster(Status("False", "False", null, null)), [], spec, ["ray-x: FailedCreate: admission webhook denied the pod"]);
        Assert.Contains("admission webhook denied the pod", mapped.Message, StringComparison.Ordinal);
        _ = KubernetesJson.Serialize(mapped.Nodes);
    }
}
