using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Providers.Kubernetes;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Kubernetes.ManifestCases;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Rayfleet's KubeRay checks against KubeRay v1.7.0's own, rule by rule: ray-operator/controllers/ray/utils/
/// validation.go (ValidateRayClusterSpec) unless a case names another file. Each case names the line it follows.
/// </summary>
[Collection(KubernetesCollection.Name)]
public sealed class KubeRayRuleTests
{
    private static JsonObject Head(JsonObject m) => m["spec"]!["headGroupSpec"]!.AsObject();
    private static JsonObject HeadContainer(JsonObject m) => Head(m)["template"]!["spec"]!["containers"]![0]!.AsObject();
    private static JsonObject Group(JsonObject m, int i) => m["spec"]!["workerGroupSpecs"]![i]!.AsObject();
    private static JsonObject GroupContainer(JsonObject m, int i) => Group(m, i)["template"]!["spec"]!["containers"]![0]!.AsObject();

    private static void SetEnv(JsonObject container, params (string Name, string Value)[] env) =>
        container["env"] = new JsonArray([.. env.Select(e => (JsonNode)new JsonObject { ["name"] = e.Name, ["value"] = e.Value })]);

    private static JsonObject Plain() => Build(Named("two worker groups, mixed case and millicores"));
    private static JsonObject Gft() => Build(Named("GCS fault tolerance without credentials"));
    private static JsonObject GftWithWorker()
    {
        var m = Gft();
        m["spec"]!["workerGroupSpecs"] = Plain()["spec"]!["workerGroupSpecs"]!.DeepClone();
        return m;
    }

    /// <summary>Manifests KubeRay refuses, with a text the problem must contain.</summary>
    private static readonly Dictionary<string, (Func<JsonObject> Manifest, string Expect)> Refused = new()
    {
        ["validation.go:178-181 head RAY_REDIS_ADDRESS with gcsFaultToleranceOptions"] =
            (() => { var m = Gft(); SetEnv(HeadContainer(m), ("RAY_REDIS_ADDRESS", "redis:6379")); return m; }, "RAY_REDIS_ADDRESS in env"),
        ["validation.go:192-195 head REDIS_USERNAME without fault tolerance"] =
            (() => { var m = Plain(); SetEnv(HeadContainer(m), ("REDIS_USERNAME", "ray")); return m; }, "redis username"),
        ["validation.go:192-195 head REDIS_USERNAME with fault tolerance"] =
            (() => { var m = Gft(); SetEnv(HeadContainer(m), ("REDIS_USERNAME", "ray")); return m; }, "redis username"),
        ["validation.go:192-195 head rayStartParams redis-username"] =
            (() => { var m = Plain(); Head(m)["rayStartParams"]!["redis-username"] = "ray"; return m; }, "redis username"),
        ["validation.go:183-186 ray.io/external-storage-namespace annotation with gcsFaultToleranceOptions"] =
            (() => { var m = Gft(); m["metadata"]!["annotations"]!["ray.io/external-storage-namespace"] = "ns"; return m; }, "external-storage-namespace"),
        ["validation.go:77-93 an invalid label value in a group's labels"] =
            (() => { var m = Plain(); Group(m, 0)["labels"] = new JsonObject { ["zone"] = "not a value" }; return m; }, "label value"),
        ["validation.go:197-203 a suspended worker group without autoscaling"] =
            (() => { var m = Plain(); Group(m, 0)["suspend"] = true; return m; }, "RayJobDeletionPolicy"),
        ["validation.go:158-164 head RAY_REDIS_ADDRESS without fault tolerance"] =
            (() => { var m = Plain(); SetEnv(HeadContainer(m), ("RAY_REDIS_ADDRESS", "redis:6379")); return m; }, "without gcsFaultToleranceOptions"),
        ["validation.go:206-212 head RAY_enable_autoscaler_v2=true without autoscaling"] =
            (() => { var m = Plain(); SetEnv(HeadContainer(m), ("RAY_enable_autoscaler_v2", "true")); return m; }, "autoscaling is off"),
        ["util.go:756 + validation.go:1006-1027 a group's idleTimeoutSeconds on Ray 2.55 without autoscalerOptions.version: v2 is never inferred"] =
            (() => { var m = Plain(); m["spec"]!["rayVersion"] = "2.55.1"; Group(m, 0)["idleTimeoutSeconds"] = 60; return m; }, "idleTimeoutSeconds needs autoscaler v2"),
        ["validation.go:173-176 head REDIS_PASSWORD with gcsFaultToleranceOptions"] =
            (() => { var m = Gft(); SetEnv(HeadContainer(m), ("REDIS_PASSWORD", "x")); return m; }, "REDIS_PASSWORD in env"),
    };

    /// <summary>Manifests KubeRay accepts (and Rayfleet refused before it mirrored KubeRay).</summary>
    private static readonly Dictionary<string, Func<JsonObject>> Accepted = new()
    {
        ["validation.go:158-164 RAY_REDIS_ADDRESS in a worker's env: only the head container is read"] =
            () => { var m = Plain(); SetEnv(GroupContainer(m, 0), ("RAY_REDIS_ADDRESS", "redis:6379")); return m; },
        ["validation.go:173-181 REDIS_PASSWORD and RAY_REDIS_ADDRESS in a worker's env with fault tolerance"] =
            () => { var m = GftWithWorker(); SetEnv(GroupContainer(m, 0), ("REDIS_PASSWORD", "x"), ("RAY_REDIS_ADDRESS", "r:6379")); return m; },
        ["validation.go:206-212 RAY_enable_autoscaler_v2=1 in a worker's env without autoscaling"] =
            () => { var m = Plain(); SetEnv(GroupContainer(m, 0), ("RAY_enable_autoscaler_v2", "1")); return m; },
        ["validation.go:206-212 RAY_enable_autoscaler_v2=True: only 1 and true as written"] =
            () => { var m = Plain(); SetEnv(HeadContainer(m), ("RAY_enable_autoscaler_v2", "True")); return m; },
        ["validation.go:173-176 RAY_REDIS_PASSWORD is not REDIS_PASSWORD"] =
            () => { var m = Gft(); SetEnv(HeadContainer(m), ("RAY_REDIS_PASSWORD", "x")); return m; },
        ["validation.go:168-171 an empty redis-password in rayStartParams"] =
            () => { var m = Gft(); Head(m)["rayStartParams"]!["redis-password"] = ""; return m; },
        ["validation.go:369-372 gcsFaultToleranceOptions without redisAddress (the redis backend requires nothing)"] =
            () => { var m = Gft(); m["spec"]!["gcsFaultToleranceOptions"]!.AsObject().Remove("redisAddress"); return m; },
        ["validation.go:153-156 an empty ray.io/ft-enabled annotation with gcsFaultToleranceOptions"] =
            () => { var m = Gft(); m["metadata"]!["annotations"]!["ray.io/ft-enabled"] = ""; return m; },
        ["validation.go:1020-1023 a group's idleTimeoutSeconds with the head's RAY_enable_autoscaler_v2=true"] =
            () =>
            {
                var m = Plain();
                m["spec"]!["enableInTreeAutoscaling"] = true;
                SetEnv(HeadContainer(m), ("RAY_enable_autoscaler_v2", "true"));
                Group(m, 0)["idleTimeoutSeconds"] = 60;
                return m;
            },
        ["validation.go:125-138 replicas outside [minReplicas, maxReplicas]: KubeRay checks only min and max"] =
            () => { var m = Plain(); Group(m, 0)["replicas"] = 9; return m; },
    };

    public static TheoryData<string> RefusedCases() => [.. Refused.Keys];
    public static TheoryData<string> AcceptedCases() => [.. Accepted.Keys];

    [Theory]
    [MemberData(nameof(RefusedCases))]
    public void What_KubeRay_refuses_is_refused_before_apply(string rule)
    {
        var (manifest, expect) = Refused[rule];
        var problems = KubeRayChecks.Check(manifest());
        Assert.True(problems.Any(p => p.Contains(expect, StringComparison.Ordinal)), $"expected a problem with '{expect}', got [{string.Join("; ", problems)}]");
    }

    [Theory]
    [MemberData(nameof(AcceptedCases))]
    public void What_KubeRay_accepts_is_accepted(string rule) =>
        Assert.Equal([], KubeRayChecks.Check(Accepted[rule]()));

    /// <summary>
    /// The rules no request can break, because the builder never writes the fields they read (or writes them within
    /// the rule). The README table says "by construction" for each of these.
    /// </summary>
    [Theory]
    [MemberData(nameof(ManifestCases.Names), MemberType = typeof(ManifestCases))]
    public void Every_manifest_keeps_the_rules_KubeRay_checks_on_fields_Rayfleet_owns(string name)
    {
        var m = Build(Named(name));
        var spec = m["spec"]!.AsObject();
        var annotations = m["metadata"]!["annotations"]!.AsObject();
        // validation.go:32-40 name; 153-156 and 183-186 annotations.
        var rcName = m["metadata"]!["name"]!.GetValue<string>();
        Assert.InRange(rcName.Length, 1, 53);
        Assert.Matches("^[a-z]([-a-z0-9]*[a-z0-9])?$", rcName);
        Assert.False(annotations.ContainsKey("ray.io/ft-enabled"));
        Assert.False(annotations.ContainsKey("ray.io/external-storage-namespace"));
        // validation.go:42-57 upgradeStrategy, 260-282 historyServerOptions, 284-313 authOptions, 315-321 networkPolicy, 323-326 tlsOptions.
        foreach (var field in new[] { "upgradeStrategy", "historyServerOptions", "authOptions", "networkPolicy", "tlsOptions" })
            Assert.False(spec.ContainsKey(field), field);
        // validation.go:241-245 and 252-258.
        if (spec["autoscalerOptions"] is JsonObject autoscaler)
        {
            Assert.True(autoscaler["idleTimeoutSeconds"]!.GetValue<int>() >= 0);
            Assert.False(autoscaler.ContainsKey("env"));
        }
        // validation.go:188, 333-373: the redis backend, an address always, no storage.
        if (spec["gcsFaultToleranceOptions"] is JsonObject ft)
        {
            Assert.False(ft.ContainsKey("backend"));
            Assert.False(ft.ContainsKey("storage"));
            Assert.NotEmpty(ft["redisAddress"]!.GetValue<string>());
        }
        // validation.go:104-106 and 119-121 a container each; 60-69 and 72-100 no group resources or labels;
        // 125-138 both bounds, not negative, min <= max; 148 and 1113-1142 no priority; 197-220 no group suspend.
        Assert.NotEmpty(Head(m)["template"]!["spec"]!["containers"]!.AsArray());
        Assert.False(Head(m).ContainsKey("resources"));
        Assert.False(Head(m).ContainsKey("labels"));
        foreach (var group in spec["workerGroupSpecs"]!.AsArray().Select(g => g!.AsObject()))
        {
            Assert.NotEmpty(group["template"]!["spec"]!["containers"]!.AsArray());
            foreach (var field in new[] { "resources", "labels", "priority", "suspend" })
                Assert.False(group.ContainsKey(field), field);
            var min = group["minReplicas"]!.GetValue<int>();
            var max = group["maxReplicas"]!.GetValue<int>();
            var replicas = group["replicas"]!.GetValue<int>();
            Assert.True(0 <= min && min <= replicas && replicas <= max, $"{min} <= {replicas} <= {max}");
        }
        // The webhook's rule (pkg/webhooks/v1/raycluster_webhook.go:69-79): names unique as KubeRay compares them.
        var names = spec["workerGroupSpecs"]!.AsArray().Select(g => g!["groupName"]!.GetValue<string>()).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal([], KubeRayChecks.Check(m));
    }

    [Theory]
    [InlineData("--redis-password=x --labels=a=b --num-cpus=4")]
    [InlineData("--redis-username=u --node-name='my node' --disable-usage-stats")]
    [InlineData("--disable-usage-stats=false")]
    [InlineData(null)]
    public void The_API_reads_rayStartParams_as_the_manifest_writes_them(string? parameters)
    {
        var api = Core.Clusters.KubeRayRules.RayStartParamMap(parameters);
        var manifest = RayClusterManifest.RayStartParams(parameters, "4");
        // The manifest adds num-cpus (pod.go ~1394-1397 would otherwise round the CPU limit up); every other name is the API's.
        Assert.Equal(api.Keys.Append("num-cpus").Distinct().Order(StringComparer.Ordinal), manifest.Keys);
        foreach (var (name, value) in api)
            Assert.Equal(value == "true" && !RayStartOptions.ValueFlags.Contains(name) ? "true" : RayClusterManifest.KubeRayValue(name, value), manifest[name]);
    }

    private static Dictionary<string, string?> Settings(FakeKubeApiServer api) => new()
    {
        ["Rayfleet:Kubernetes:Host"] = api.Url,
        ["Rayfleet:Kubernetes:RetryBaseDelay"] = "00:00:00.010",
        ["Rayfleet:Kubernetes:RetryMaxDelay"] = "00:00:00.200",
    };

    private static JsonObject Request(string? headEnv = null, string? headParams = null, bool gft = false, bool autoscaling = false,
        string? workerEnv = null, string? workerParams = null)
    {
        var head = new JsonObject { ["cpu"] = "2", ["memory"] = "8Gi", ["enableAutoScaling"] = autoscaling };
        if (headEnv is not null) head["env"] = headEnv;
        if (headParams is not null) head["rayStartParams"] = headParams;
        if (gft)
        {
            head["gftEnabled"] = true;
            head["gftConfig"] = new JsonObject { ["redisUrl"] = "redis://redis:6379" };
        }
        var worker = new JsonObject { ["groupName"] = "w", ["replica"] = 1, ["cpu"] = "1", ["memory"] = "2Gi" };
        if (workerEnv is not null) worker["env"] = workerEnv;
        if (workerParams is not null) worker["rayStartParams"] = workerParams;
        return new JsonObject { ["name"] = "kuberay-rules", ["headSpec"] = head, ["workerSpec"] = new JsonArray(worker) };
    }

    /// <summary>Requests KubeRay would refuse once built, the field the error names, and the rule it cites.</summary>
    private static readonly (JsonObject Body, string Field, string Cites)[] RefusedRequests =
    [
        (Request(headEnv: "RAY_REDIS_ADDRESS=redis:6379", gft: true), "headSpec.env", "validation.go:178-181"),
        (Request(headEnv: "REDIS_USERNAME=ray"), "headSpec.env", "validation.go:192-195"),
        (Request(headEnv: "REDIS_USERNAME=ray", gft: true), "headSpec.env", "validation.go:192-195"),
        (Request(headParams: "--redis-username=ray"), "headSpec.rayStartParams", "validation.go:192-195"),
        (Request(headEnv: "RAY_REDIS_ADDRESS=redis:6379"), "headSpec.env", "validation.go:158-164"),
        (Request(headEnv: "A=1\nREDIS_PASSWORD=x", gft: true), "headSpec.env", "validation.go:173-176"),
        (Request(headParams: "--redis-password=x", gft: true), "headSpec.rayStartParams", "validation.go:168-171"),
        (Request(headEnv: "RAY_enable_autoscaler_v2=1"), "headSpec.env", "validation.go:206-212"),
        (Request(headParams: "--labels={\"a\":\"b\"}"), "headSpec.rayStartParams", "validation.go:73-75"),
        (Request(workerParams: "--labels=zone=a"), "workerSpec[0].rayStartParams", "validation.go:73-75"),
    ];

    /// <summary>Requests whose RayCluster KubeRay accepts.</summary>
    private static readonly JsonObject[] AcceptedRequests =
    [
        Request(workerEnv: "RAY_REDIS_ADDRESS=redis:6379\nREDIS_USERNAME=u\nRAY_enable_autoscaler_v2=1"),
        Request(workerEnv: "REDIS_PASSWORD=x\nRAY_REDIS_ADDRESS=r:6379", gft: true),
        Request(headEnv: "RAY_REDIS_PASSWORD=x", gft: true),
        Request(headEnv: "RAY_enable_autoscaler_v2=True"),
        Request(headParams: "--redis-password=", gft: true),
        Request(workerParams: "--redis-username=u --redis-password=x"),
    ];

    [Fact]
    public async Task Create_in_a_kubernetes_workspace_refuses_what_KubeRay_would_and_accepts_what_it_would()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes", "640");
        var simulated = await api.CreateWorkspaceAsync("sim", "simulated", "640");

        foreach (var (body, field, cites) in RefusedRequests)
        {
            var response = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", body.ToJsonString());
            Assert.True(response.Status == HttpStatusCode.BadRequest, $"{cites}: {body.ToJsonString()} got {(int)response.Status} {response.Body}");
            Assert.Equal("InvalidParameter", response.Code);
            var error = Assert.Single(response.Json["Errors"]!.AsArray());
            Assert.Equal(field, error!["Field"]!.GetValue<string>());
            Assert.Contains(cites, error["Message"]!.GetValue<string>(), StringComparison.Ordinal);
            // KubeRay's rules, not Ray's: another provider takes the same request.
            (await api.PostAsync($"/api/v1/workspaces/{simulated}/rayCluster", body.ToJsonString())).EnsureOk();
        }
        foreach (var body in AcceptedRequests)
            (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", body.ToJsonString())).EnsureOk();
    }

    [Fact]
    public async Task Update_in_a_kubernetes_workspace_refuses_head_RAY_REDIS_ADDRESS_with_fault_tolerance_validation_go_178()
    {
        await using var kube = await FakeKubeApiServer.StartAsync();
        using var host = new RayfleetHost(settings: Settings(kube));
        var api = host.Api();
        var ws = await api.CreateWorkspaceAsync("k8s", "kubernetes", "64");
        var id = await api.CreateClusterAsync(ws, Request(gft: true));

        var patch = new JsonObject { ["headSpec"] = new JsonObject { ["env"] = "RAY_REDIS_ADDRESS=other:6379" } };
        var response = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster/{id}", patch.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        Assert.Equal("headSpec.env", response.Json["Errors"]![0]!["Field"]!.GetValue<string>());
        Assert.Contains("validation.go:178-181", response.Message, StringComparison.Ordinal);
        Assert.Null((await api.GetClusterAsync(ws, id))["headSpec"]!["env"]);
    }
}
