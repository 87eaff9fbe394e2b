using System.Net;
using System.Text.Json.Nodes;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;
using K = System.Text.Json.JsonValueKind;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>Ray job requests and responses against emr-api.md §6: exact names, JSON types, errors and roles.</summary>
public sealed class JobWireTests : IDisposable
{
    private readonly RayfleetHost _host = new();

    public void Dispose() => _host.Dispose();

    private static string Jobs(string ws) => $"/api/v1/workspaces/{ws}/rayJob";

    /// <summary>The §6.1 example body (release version left to the catalogue's default, which Rayfleet lists).</summary>
    private const string ReferenceSubmit = """
        {"name":"my-job","entrypoint":"python -c \"print(\\\"hello ray job\\\")\"","workingDir":"oss://mybucket/rayjob.zip",
         "networkServiceName":"vpc",
         "runtimeEnvJson":"{\"pip\":[\"requests==2.26.0\",\"pendulum==2.1.2\"],\"env_vars\":{\"KEY\":\"VALUE\"}}",
         "metadataJson":"{\"resourceName\": \"test\"}",
         "extraParam":"{\"userDefinedFiles\": \"oss://mybucket/artifact/config.json\", \"userRequirementsFile\": \"oss://mybucket/requirements.txt\"}",
         "entrypointNumCpus":"1","entrypointNumGpus":"0","entrypointMemory":"4Gi","entrypointResources":"{\"fpu\": 1}",
         "activeDeadlineSeconds":3600,"shutdownAfterJobFinishes":true,"ttlSecondsAfterFinished":60,"submissionMode":"HTTPMode",
         "tags":[{"key":"jobname","value":"test"}],
         "headSpec":{"cpu":"2","memory":"8Gi","queueName":"root_queue","enableAutoScaling":false,"idleTimeoutSeconds":60},
         "workerSpec":[{"groupName":"WorkerGroup1","workerType":"CPU","replica":1,"minReplica":1,"maxReplica":10,"cpu":"2","memory":"8Gi","queueName":"root_queue"}]}
        """;

    /// <summary>The same job as the C# SDK 2.x serialises a request with only some members set: every other one an explicit null.</summary>
    private const string SdkSubmit = """
        {"activeDeadlineSeconds":null,"clusterId":null,"displayReleaseVersion":null,"entrypoint":"python main.py",
         "entrypointMemory":null,"entrypointNumCpus":null,"entrypointNumGpus":null,"entrypointResources":null,"extraParam":null,
         "headSpec":{"cpu":"1","displayReleaseVersion":null,"enableAutoScaling":null,"gpuSpec":null,"idleTimeoutSeconds":null,"memory":"4Gi","queueName":null},
         "metadataJson":null,"name":"sdk-job","networkServiceName":null,"runtimeEnvJson":null,"shutdownAfterJobFinishes":null,
         "submissionMode":null,"tags":null,"ttlSecondsAfterFinished":null,"volumeIds":null,
         "workerSpec":[{"cpu":"1","displayReleaseVersion":null,"gpuSpec":null,"groupName":"g1","maxReplica":null,"memory":"4Gi","minReplica":null,"queueName":null,"replica":1,"workerType":null}],
         "workingDir":null}
        """;

    private async Task<(ApiClient Api, string Ws)> StartAsync()
    {
        var api = _host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        (await api.RawPostAsync($"/api/v1/workspaces/{ws}/networkServices", JsonNode.Parse("""{"name":"vpc","type":"NetworkService"}""")!)).EnsureOk();
        return (api, ws);
    }

    [Fact]
    public async Task SubmitRayJob_with_the_reference_example_answers_requestId_and_submissionId_and_GetRayJob_echoes_it_field_by_field()
    {
        var (api, ws) = await StartAsync();
        var submit = (await api.RawPostAsync(Jobs(ws), ReferenceSubmit)).EnsureOk().Json;
        Assert.Equal(["requestId", "submissionId"], submit.Select(p => p.Key).Order().ToArray());
        var id = submit["submissionId"]!.GetValue<string>();
        Assert.Matches("^rj-[a-z0-9]{16}$", id);

        var get = (await api.RawGetAsync($"{Jobs(ws)}/{id}")).EnsureOk().Json;
        string[] expected =
        [
            "requestId", "submissionId", "name", "status", "clusterState", "message", "entrypoint", "entrypointMemory",
            "entrypointNumCpus", "entrypointNumGpus", "entrypointResources", "workingDir", "runtimeEnvJson", "metadataJson",
            "extraParam", "displayReleaseVersion", "networkServiceName", "submissionMode", "activeDeadlineSeconds", "backoffLimit",
            "shutdownAfterJobFinishes", "ttlSecondsAfterFinished", "submitTime", "startTime", "endTime", "duration", "cuHours",
            "guHours", "dashboardUrl", "dashboardUrlExtra", "logBucketName", "logPath", "creatorName", "taskBizId", "tags",
            "volumeIds", "headSpec", "workerSpecs",
            "clusterId", // Rayfleet extension
        ];
        Assert.Equal(expected.Order().ToArray(), get.Select(p => p.Key).Order().ToArray());
        Assert.Equal(id, get["submissionId"]!.GetValue<string>());
        Assert.Equal("my-job", get["name"]!.GetValue<string>());
        Assert.Contains(get["status"]!.GetValue<string>(), new[] { "Submitted", "Pending" });
        Assert.Contains(get["clusterState"]!.GetValue<string>(), new[] { "Submitted", "Pending" });
        Assert.Equal("python -c \"print(\\\"hello ray job\\\")\"", get["entrypoint"]!.GetValue<string>());
        Assert.Equal("4Gi", get["entrypointMemory"]!.GetValue<string>());
        Assert.Equal("1", get["entrypointNumCpus"]!.GetValue<string>());
        Assert.Equal("0", get["entrypointNumGpus"]!.GetValue<string>());
        Assert.Equal("{\"fpu\": 1}", get["entrypointResources"]!.GetValue<string>());
        Assert.Equal("oss://mybucket/rayjob.zip", get["workingDir"]!.GetValue<string>());
        Assert.Equal("{\"resourceName\": \"test\"}", get["metadataJson"]!.GetValue<string>());
        Assert.Equal("vpc", get["networkServiceName"]!.GetValue<string>());
        Assert.Equal("HTTPMode", get["submissionMode"]!.GetValue<string>());
        Assert.Equal(3600, get["activeDeadlineSeconds"]!.GetValue<int>());
        Assert.Equal(0, get["backoffLimit"]!.GetValue<int>());
        Assert.True(get["shutdownAfterJobFinishes"]!.GetValue<bool>());
        Assert.Equal(60, get["ttlSecondsAfterFinished"]!.GetValue<int>());
        Assert.Equal(K.Number, Kind(get, "submitTime"));
        Assert.True(get["submitTime"]!.GetValue<long>() > 1_700_000_000_000);
        Assert.Equal(K.Null, Kind(get, "startTime"));
        Assert.Equal(K.Null, Kind(get, "endTime"));
        Assert.Equal(0, get["duration"]!.GetValue<long>());
        Assert.Equal(K.Number, Kind(get, "cuHours"));
        Assert.Equal(K.Object, Kind(get, "guHours"));
        Assert.Equal(K.Array, Kind(get, "dashboardUrlExtra"));
        Assert.Equal("rayfleet-logs", get["logBucketName"]!.GetValue<string>());
        Assert.Equal($"{ws}/ray/logs/{id}/", get["logPath"]!.GetValue<string>());
        Assert.Equal("admin", get["creatorName"]!.GetValue<string>());
        var tag = Assert.Single(get["tags"]!.AsArray())!.AsObject();
        Assert.Equal(("jobname", "test"), (tag["key"]!.GetValue<string>(), tag["value"]!.GetValue<string>()));
        Assert.Empty(get["volumeIds"]!.AsArray());
        var head = get["headSpec"]!.AsObject();
        Assert.Equal(("2", "8Gi", "root_queue", 1), (head["cpu"]!.GetValue<string>(), head["memory"]!.GetValue<string>(), head["queueName"]!.GetValue<string>(), head["replica"]!.GetValue<int>()));
        var worker = Assert.Single(get["workerSpecs"]!.AsArray())!.AsObject();
        Assert.False(worker.ContainsKey("workerType"));
        Assert.Equal(("WorkerGroup1", 1, 1, 10), (worker["groupName"]!.GetValue<string>(), worker["replica"]!.GetValue<int>(),
            worker["minReplica"]!.GetValue<int>(), worker["maxReplica"]!.GetValue<int>()));

        // The job-mode cluster runs what the job asked for.
        var cluster = (await api.RawGetAsync($"{Clusters(ws)}/{get["clusterId"]!.GetValue<string>()}")).EnsureOk().Json;
        Assert.Equal(id, cluster["jobSubmissionId"]!.GetValue<string>());
        Assert.Equal("vpc", cluster["networkServiceName"]!.GetValue<string>());
        Assert.Equal("WorkerGroup1", cluster["workerSpec"]![0]!["groupName"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_submit_as_the_CSharp_SDK_sends_it_with_nested_nulls_is_accepted_with_the_defaults()
    {
        var (api, ws) = await StartAsync();
        var id = (await api.RawPostAsync(Jobs(ws), SdkSubmit)).EnsureOk().Json["submissionId"]!.GetValue<string>();
        var get = (await api.RawGetAsync($"{Jobs(ws)}/{id}")).EnsureOk().Json;
        Assert.Equal("HTTPMode", get["submissionMode"]!.GetValue<string>());
        Assert.True(get["shutdownAfterJobFinishes"]!.GetValue<bool>());
        Assert.Equal("sdk-job", get["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task ListRayJob_filters_by_a_submitTime_range_sent_as_a_JSON_string_and_by_name_with_paging_and_totalCount()
    {
        var (api, ws) = await StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await api.RawPostAsync(Jobs(ws), SdkSubmit.Replace("sdk-job", $"job-{i}", StringComparison.Ordinal))).EnsureOk().Json["submissionId"]!.GetValue<string>());
            _host.Clock.Advance(TimeSpan.FromSeconds(10));
        }
        var times = new List<long>();
        foreach (var id in ids) times.Add((await api.RawGetAsync($"{Jobs(ws)}/{id}")).EnsureOk().Json["submitTime"]!.GetValue<long>());

        var all = (await api.RawGetAsync($"{Jobs(ws)}?pageSize=2")).EnsureOk().Json;
        Assert.Equal(3, all["totalCount"]!.GetValue<int>());
        var page1 = all["rayJobs"]!.AsArray();
        Assert.Equal([ids[2], ids[1]], page1.Select(j => j!["submissionId"]!.GetValue<string>()).ToArray());
        string[] itemKeys = ["submissionId", "name", "status", "clusterState", "creatorName", "cuHours", "dashboardUrl", "duration",
            "submitTime", "startTime", "endTime", "resourceQueue", "clusterId"];
        Assert.Equal(itemKeys.Order().ToArray(), page1[0]!.AsObject().Select(p => p.Key).Order().ToArray());
        Assert.Equal("root_queue", page1[0]!["resourceQueue"]!.GetValue<string>());
        var page2 = (await api.RawGetAsync($"{Jobs(ws)}?pageSize=2&pageNum=2")).EnsureOk().Json["rayJobs"]!.AsArray();
        Assert.Equal(ids[0], Assert.Single(page2)!["submissionId"]!.GetValue<string>());

        // As the SDK sends it: compact JSON, endTime first; bounds inclusive.
        var range = Uri.EscapeDataString($"{{\"endTime\":{times[1]},\"startTime\":{times[0]}}}");
        var ranged = (await api.RawGetAsync($"{Jobs(ws)}?submitTime={range}")).EnsureOk().Json;
        Assert.Equal([ids[1], ids[0]], ranged["rayJobs"]!.AsArray().Select(j => j!["submissionId"]!.GetValue<string>()).ToArray());
        var onlyStart = Uri.EscapeDataString($"{{\"startTime\":{times[2]}}}");
        Assert.Equal(1, (await api.RawGetAsync($"{Jobs(ws)}?submitTime={onlyStart}")).EnsureOk().Json["totalCount"]!.GetValue<int>());
        var byName = (await api.RawGetAsync($"{Jobs(ws)}?name=job-1")).EnsureOk().Json;
        Assert.Equal(ids[1], Assert.Single(byName["rayJobs"]!.AsArray())!["submissionId"]!.GetValue<string>());
        Assert.Equal(0, (await api.RawGetAsync($"{Jobs(ws)}?taskBizId=TSK-1")).EnsureOk().Json["totalCount"]!.GetValue<int>());

        foreach (var bad in new[] { "yesterday", "[1,2]", "{\"startTime\":\"x\"}", "{\"startTime\":-5}" })
            AssertError(await api.RawGetAsync($"{Jobs(ws)}?submitTime={Uri.EscapeDataString(bad)}"), HttpStatusCode.BadRequest, "InvalidParameter", "submitTime");
        AssertError(await api.RawGetAsync($"{Jobs(ws)}?pageSize=101"), HttpStatusCode.BadRequest, "InvalidParameter", "pageSize");
    }

    [Fact]
    public async Task Unknown_job_ids_answer_InvalidRayJob_NotFound_on_get_and_cancel()
    {
        var (api, ws) = await StartAsync();
        AssertError(await api.RawGetAsync($"{Jobs(ws)}/rj-0000000000000000"), HttpStatusCode.NotFound, "InvalidRayJob.NotFound", "rj-0000000000000000");
        AssertError(await api.RawPostAsync($"{Jobs(ws)}/rj-0000000000000000/cancel", ""), HttpStatusCode.NotFound, "InvalidRayJob.NotFound");
    }

    [Fact]
    public async Task A_bad_submit_names_every_broken_field_at_once_and_creates_nothing()
    {
        var (api, ws) = await StartAsync();
        var response = await api.RawPostAsync(Jobs(ws), """
            {"runtimeEnvJson":"[1]","metadataJson":"{\"a\":1}","entrypointNumCpus":"abc","entrypointMemory":"lots",
             "entrypointResources":"{\"fpu\":-1}","activeDeadlineSeconds":0,"ttlSecondsAfterFinished":-1,"submissionMode":"K8sJobMode",
             "tags":[{"key":""}]}
            """);
        var json = AssertError(response, HttpStatusCode.BadRequest, "MissingParameter.entrypoint");
        var fields = json["Errors"]!.AsArray().Select(e => e!["Field"]!.GetValue<string>()).ToHashSet();
        foreach (var f in new[] { "entrypoint", "runtimeEnvJson", "metadataJson", "entrypointNumCpus", "entrypointMemory", "entrypointResources",
                                  "activeDeadlineSeconds", "ttlSecondsAfterFinished", "submissionMode", "tags[0].key" })
            Assert.Contains(f, fields);
        Assert.Equal(0, (await api.RawGetAsync(Jobs(ws))).EnsureOk().Json["totalCount"]!.GetValue<int>());
        Assert.Empty((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());

        AssertFieldError(await api.RawPostAsync(Jobs(ws), """{"entrypoint":"echo"}"""), "MissingParameter.headSpec", "headSpec");
        AssertFieldError(await api.RawPostAsync(Jobs(ws), """{"entrypoint":"echo","headSpec":{"cpu":"1"}}"""), "MissingParameter.headSpec.memory", "headSpec.memory");
        AssertFieldError(await api.RawPostAsync(Jobs(ws), """{"entrypoint":"echo","clusterId":"ray-0000000000000000","headSpec":{"cpu":"1","memory":"4Gi"}}"""),
            "InvalidParameter", "clusterId");
        AssertError(await api.RawPostAsync(Jobs(ws), """{"entrypoint":"echo","headSpec":{"cpu":"1000","memory":"4Gi"}}"""), HttpStatusCode.BadRequest, "QuotaExceeded");
        AssertError(await api.RawPostAsync(Jobs(ws), """{"entrypoint":5}"""), HttpStatusCode.BadRequest, "InvalidParameter.JSON");
    }

    [Fact]
    public async Task A_retried_submit_with_the_same_clientToken_is_one_job_with_one_cluster()
    {
        var (api, ws) = await StartAsync();
        var body = SdkSubmit.Replace("\"workingDir\":null}", "\"workingDir\":null,\"clientToken\":\"submit-once\"}", StringComparison.Ordinal);
        var first = (await api.RawPostAsync(Jobs(ws), body)).EnsureOk().Json["submissionId"]!.GetValue<string>();
        var again = (await api.RawPostAsync(Jobs(ws), body)).EnsureOk().Json["submissionId"]!.GetValue<string>();
        Assert.Equal(first, again);
        Assert.Equal(1, (await api.RawGetAsync(Jobs(ws))).EnsureOk().Json["totalCount"]!.GetValue<int>());
        Assert.Single((await api.RawGetAsync(Clusters(ws))).EnsureOk().Json["rayClusters"]!.AsArray());
    }

    [Fact]
    public async Task A_viewer_reads_jobs_but_cannot_submit_or_cancel_and_a_developer_can()
    {
        var (admin, ws) = await StartAsync();
        var id = (await admin.RawPostAsync(Jobs(ws), SdkSubmit)).EnsureOk().Json["submissionId"]!.GetValue<string>();
        var viewer = _host.Api(await _host.AddPrincipalAsync("viewer"));
        await _host.AddMemberAsync(ws, "viewer", Roles.Viewer);
        var developer = _host.Api(await _host.AddPrincipalAsync("dev"));
        await _host.AddMemberAsync(ws, "dev", Roles.Developer);

        (await viewer.RawGetAsync($"{Jobs(ws)}/{id}")).EnsureOk();
        (await viewer.RawGetAsync(Jobs(ws))).EnsureOk();
        AssertError(await viewer.RawPostAsync(Jobs(ws), SdkSubmit), HttpStatusCode.Forbidden, "Forbidden.RAM");
        AssertError(await viewer.RawPostAsync($"{Jobs(ws)}/{id}/cancel", ""), HttpStatusCode.Forbidden, "Forbidden.RAM");

        (await developer.RawPostAsync(Jobs(ws), SdkSubmit)).EnsureOk();
        var cancel = (await developer.RawPostAsync($"{Jobs(ws)}/{id}/cancel", "")).EnsureOk().Json;
        Assert.Equal(["requestId", "success"], cancel.Select(p => p.Key).Order().ToArray());
        Assert.True(cancel["success"]!.GetValue<bool>());
    }
}
