using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Jobs.Logs;

public sealed class ListRayLogsTests
{
    /// <summary>
    /// A job folder with nesting and names that sort differently as keys than as folder names: "a-b.log" (0x2D) comes
    /// before the keys of folder "a/" (0x2F), and "a0.log" (0x30) after them.
    /// </summary>
    private static readonly string[] Files =
    [
        "a-b.log", "a/x.log", "a/y/z.log", "a0.log", "nodes/head/raylet.out", "nodes/head/gcs_server.out",
        "nodes/worker-1/raylet.out", "rj-k7nm8ahl5te4tg91_driver.log",
    ];

    private static readonly string[] KeyOrder =
    [
        "a-b.log", "a/x.log", "a/y/z.log", "a0.log", "nodes/head/gcs_server.out", "nodes/head/raylet.out",
        "nodes/worker-1/raylet.out", "rj-k7nm8ahl5te4tg91_driver.log",
    ];

    private static async Task<LogTestHost> FilledAsync()
    {
        var logs = await LogTestHost.StartAsync();
        foreach (var file in Files) await logs.WriteAsync(file, "content of " + file);
        return logs;
    }

    private static List<string> Paths(RawResponse response) =>
        [.. response.EnsureOk().Json["data"]!["objectList"]!.AsArray().Select(o => o!["path"]!.GetValue<string>())];

    [Fact]
    public async Task The_body_has_every_field_of_the_reference_with_its_type()
    {
        using var logs = await FilledAsync();
        var driver = logs.Store.Find(logs.WorkspaceId, LogTestHost.Job, "rj-k7nm8ahl5te4tg91_driver.log")!;

        var response = await logs.ListAsync("delimiter=%2F&maxKeys=50");

        var body = response.EnsureOk().Json;
        Assert.Equal("application/json", response.MediaType);
        Assert.Equal(["code", "message", "requestId", "data"], body.Select(p => p.Key));
        Assert.Equal("1000000", body["code"]!.GetValue<string>());
        Assert.Equal("ok", body["message"]!.GetValue<string>());
        Assert.Equal(response.RequestIdHeader, body["requestId"]!.GetValue<string>());
        Assert.Matches(UppercaseUuid(), body["requestId"]!.GetValue<string>());

        var data = body["data"]!.AsObject();
        Assert.Equal(["bucketName", "prefix", "delimiter", "marker", "maxKeys", "isTruncated", "nextMarker", "objectList"], data.Select(p => p.Key));
        AssertKinds(data, [
            ("bucketName", JsonValueKind.String), ("prefix", JsonValueKind.String), ("delimiter", JsonValueKind.String),
            ("marker", JsonValueKind.String), ("maxKeys", JsonValueKind.Number), ("isTruncated", JsonValueKind.False),
            ("nextMarker", JsonValueKind.String), ("objectList", JsonValueKind.Array),
        ]);
        Assert.Equal("rayfleet-logs", data["bucketName"]!.GetValue<string>());
        Assert.Equal(logs.Folder, data["prefix"]!.GetValue<string>());
        Assert.Equal("/", data["delimiter"]!.GetValue<string>());
        Assert.Equal("", data["marker"]!.GetValue<string>());
        Assert.Equal(50, data["maxKeys"]!.GetValue<long>());
        Assert.Equal("", data["nextMarker"]!.GetValue<string>());

        var items = data["objectList"]!.AsArray().Select(o => o!.AsObject()).ToList();
        Assert.All(items, i => Assert.Equal(["isDir", "name", "path", "size", "timeModified"], i.Select(p => p.Key)));
        Assert.Equal(
            [(false, "a-b.log"), (true, "a"), (false, "a0.log"), (true, "nodes"), (false, "rj-k7nm8ahl5te4tg91_driver.log")],
            items.Select(i => (i["isDir"]!.GetValue<bool>(), i["name"]!.GetValue<string>())));

        var file = items[^1];
        AssertKinds(file, [("isDir", JsonValueKind.False), ("name", JsonValueKind.String), ("path", JsonValueKind.String),
            ("size", JsonValueKind.Number), ("timeModified", JsonValueKind.Number)]);
        Assert.Equal(logs.Folder + "rj-k7nm8ahl5te4tg91_driver.log", file["path"]!.GetValue<string>());
        Assert.Equal("content of rj-k7nm8ahl5te4tg91_driver.log".Length, file["size"]!.GetValue<long>());
        Assert.Equal(driver.Modified.ToUnixTimeMilliseconds(), file["timeModified"]!.GetValue<long>());
        Assert.Equal(13, file["timeModified"]!.GetValue<long>().ToString(System.Globalization.CultureInfo.InvariantCulture).Length);

        var folder = items[3];
        Assert.Equal(JsonValueKind.True, Kind(folder, "isDir"));
        Assert.Equal(logs.Folder + "nodes/", folder["path"]!.GetValue<string>());
        Assert.Equal(0, folder["size"]!.GetValue<long>());
    }

    [Fact]
    public async Task Without_a_delimiter_every_file_is_listed_in_key_order_and_no_folder()
    {
        using var logs = await FilledAsync();

        var paths = Paths(await logs.ListAsync());

        Assert.Equal(KeyOrder.Select(k => logs.Folder + k), paths);
    }

    [Fact]
    public async Task Paging_with_maxKeys_1_visits_every_key_once_and_the_last_page_is_not_truncated()
    {
        using var logs = await FilledAsync();
        var seen = new List<string>();
        string? marker = null;
        for (var page = 0; page < 20; page++)
        {
            var data = (await logs.ListAsync("maxKeys=1" + (marker is null ? "" : "&marker=" + Uri.EscapeDataString(marker)))).EnsureOk().Json["data"]!;
            var paths = data["objectList"]!.AsArray().Select(o => o!["path"]!.GetValue<string>()).ToList();
            Assert.True(paths.Count <= 1);
            seen.AddRange(paths);
            Assert.Equal(marker ?? "", data["marker"]!.GetValue<string>());
            if (!data["isTruncated"]!.GetValue<bool>())
            {
                Assert.Equal("", data["nextMarker"]!.GetValue<string>());
                break;
            }
            // nextMarker is the page's last path, so it goes back as the marker as it is.
            marker = data["nextMarker"]!.GetValue<string>();
            Assert.Equal(paths[^1], marker);
        }

        Assert.Equal(KeyOrder.Select(k => logs.Folder + k), seen);
    }

    [Fact]
    public async Task Paging_with_a_delimiter_shows_each_folder_once_and_a_folder_marker_skips_its_files()
    {
        using var logs = await FilledAsync();
        var seen = new List<string>();
        var query = "delimiter=/&maxKeys=2";
        for (var page = 0; page < 10; page++)
        {
            var data = (await logs.ListAsync(query)).EnsureOk().Json["data"]!;
            seen.AddRange(data["objectList"]!.AsArray().Select(o => o!["path"]!.GetValue<string>()));
            if (!data["isTruncated"]!.GetValue<bool>()) break;
            query = "delimiter=/&maxKeys=2&marker=" + Uri.EscapeDataString(data["nextMarker"]!.GetValue<string>());
        }

        Assert.Equal(new[] { "a-b.log", "a/", "a0.log", "nodes/", "rj-k7nm8ahl5te4tg91_driver.log" }.Select(k => logs.Folder + k), seen);
    }

    [Fact]
    public async Task A_marker_in_the_middle_of_a_nested_folder_lists_only_later_keys_with_or_without_its_leading_slash()
    {
        using var logs = await FilledAsync();
        var marker = logs.Folder + "nodes/head/gcs_server.out";

        var withSlash = Paths(await logs.ListAsync("marker=" + Uri.EscapeDataString(marker)));
        var withoutSlash = Paths(await logs.ListAsync("marker=" + Uri.EscapeDataString(marker[1..])));

        Assert.Equal(new[] { "nodes/head/raylet.out", "nodes/worker-1/raylet.out", "rj-k7nm8ahl5te4tg91_driver.log" }.Select(k => logs.Folder + k), withSlash);
        Assert.Equal(withSlash, withoutSlash);
        // A marker between keys (not itself a key) works too.
        Assert.Equal(withSlash, Paths(await logs.ListAsync("marker=" + Uri.EscapeDataString(logs.Folder + "nodes/head/h"))));
    }

    [Fact]
    public async Task A_prefix_with_or_without_its_leading_slash_lists_the_same_and_may_end_inside_a_name()
    {
        using var logs = await FilledAsync();
        var nodes = logs.Folder + "nodes/";

        var withSlash = await logs.ListAsync("prefix=" + Uri.EscapeDataString(nodes));
        var withoutSlash = await logs.ListAsync("prefix=" + Uri.EscapeDataString(nodes[1..]));
        var partial = await logs.ListAsync("delimiter=/&prefix=" + Uri.EscapeDataString(nodes + "he"));

        string[] expected = ["nodes/head/gcs_server.out", "nodes/head/raylet.out", "nodes/worker-1/raylet.out"];
        Assert.Equal(expected.Select(k => logs.Folder + k), Paths(withSlash));
        Assert.Equal(Paths(withSlash), Paths(withoutSlash));
        Assert.Equal(nodes, withSlash.Json["data"]!["prefix"]!.GetValue<string>());
        Assert.Equal([logs.Folder + "nodes/head/"], Paths(partial));
    }

    [Theory]
    [InlineData("/w-0000000000000000/ray/logs/rj-k7nm8ahl5te4tg91/")]
    [InlineData("/")]
    [InlineData("FOLDER../")]
    [InlineData("FOLDERnodes/../../rj-other0000000000/")]
    [InlineData("FOLDERnodes//head/")]
    public async Task A_prefix_outside_the_job_folder_is_InvalidParameter_naming_prefix(string prefix)
    {
        using var logs = await FilledAsync();

        var response = await logs.ListAsync("prefix=" + Uri.EscapeDataString(prefix.Replace("FOLDER", logs.Folder, StringComparison.Ordinal)));

        AssertError(response, HttpStatusCode.BadRequest, "InvalidParameter", "prefix");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1000")]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("99999999999")]
    public async Task MaxKeys_outside_1_to_999_is_InvalidParameter(string maxKeys)
    {
        using var logs = await FilledAsync();

        AssertError(await logs.ListAsync("maxKeys=" + maxKeys), HttpStatusCode.BadRequest, "InvalidParameter", "maxKeys");
    }

    [Fact]
    public async Task MaxKeys_999_and_the_default_100_are_taken_and_echoed()
    {
        using var logs = await FilledAsync();

        Assert.Equal(999, (await logs.ListAsync("maxKeys=999")).EnsureOk().Json["data"]!["maxKeys"]!.GetValue<long>());
        Assert.Equal(100, (await logs.ListAsync()).EnsureOk().Json["data"]!["maxKeys"]!.GetValue<long>());
    }

    [Fact]
    public async Task Truncation_is_reported_when_more_keys_than_maxKeys_exist_and_not_when_exactly_maxKeys()
    {
        using var logs = await FilledAsync();

        var seven = (await logs.ListAsync("maxKeys=7")).EnsureOk().Json["data"]!;
        var eight = (await logs.ListAsync("maxKeys=8")).EnsureOk().Json["data"]!;

        Assert.True(seven["isTruncated"]!.GetValue<bool>());
        Assert.Equal(logs.Folder + KeyOrder[6], seven["nextMarker"]!.GetValue<string>());
        Assert.Equal(7, seven["objectList"]!.AsArray().Count);
        Assert.False(eight["isTruncated"]!.GetValue<bool>());
        Assert.Equal(8, eight["objectList"]!.AsArray().Count);
    }

    [Fact]
    public async Task An_empty_folder_is_no_entry_and_a_job_without_logs_lists_nothing()
    {
        using var logs = await FilledAsync();
        Directory.CreateDirectory(Path.Combine(logs.Store.JobFolder(logs.WorkspaceId, LogTestHost.Job), "empty", "deeper"));
        logs.Jobs.Add(logs.WorkspaceId, "rj-0000000000000001");

        var top = Paths(await logs.ListAsync("delimiter=/"));
        var none = (await logs.ListAsync(submissionId: "rj-0000000000000001")).EnsureOk().Json["data"]!;

        Assert.DoesNotContain(logs.Folder + "empty/", top);
        Assert.Empty(none["objectList"]!.AsArray());
        Assert.False(none["isTruncated"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_symbolic_link_in_the_job_folder_is_never_listed()
    {
        using var logs = await FilledAsync();
        var folder = logs.Store.JobFolder(logs.WorkspaceId, LogTestHost.Job);
        File.CreateSymbolicLink(Path.Combine(folder, "b-link.log"), Path.Combine(logs.Host.DataDirectory, "rayfleet.db"));
        Directory.CreateSymbolicLink(Path.Combine(folder, "c-dir"), logs.Host.DataDirectory);

        var all = Paths(await logs.ListAsync());
        var top = Paths(await logs.ListAsync("delimiter=/"));

        Assert.Equal(KeyOrder.Select(k => logs.Folder + k), all);
        Assert.DoesNotContain(top, p => p.Contains("link", StringComparison.Ordinal) || p.Contains("c-dir", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_job_workspace_bucket_and_delimiter_get_their_codes()
    {
        using var logs = await FilledAsync();

        AssertError(await logs.ListAsync(submissionId: "rj-0000000000000000"), HttpStatusCode.NotFound, "InvalidRayJob.NotFound", "rj-0000000000000000");
        AssertError(await logs.ListAsync(submissionId: "..x"), HttpStatusCode.NotFound, "InvalidRayJob.NotFound");
        AssertError(await logs.Api.RawGetAsync($"/api/interactive/v1/workspace/{UnknownWorkspace}/ray/{LogTestHost.Job}/logs"),
            HttpStatusCode.NotFound, "InvalidWorkspace.NotFound");
        AssertError(await logs.ListAsync("bucketName=mybucket"), HttpStatusCode.BadRequest, "InvalidParameter", "bucketName");
        AssertError(await logs.ListAsync("delimiter=_"), HttpStatusCode.BadRequest, "InvalidParameter", "delimiter");
        AssertError(await logs.ListAsync("marker=%00"), HttpStatusCode.BadRequest, "InvalidParameter", "marker");
        (await logs.ListAsync("bucketName=rayfleet-logs")).EnsureOk();
    }

    [Fact]
    public async Task The_log_routes_need_a_signature_and_a_viewer_may_list_and_get_urls_but_a_stranger_may_not()
    {
        using var logs = await FilledAsync();
        var viewerKey = await logs.Host.AddPrincipalAsync("viewer");
        await logs.Host.AddMemberAsync(logs.WorkspaceId, "viewer", Roles.Viewer);
        var strangerKey = await logs.Host.AddPrincipalAsync("stranger");
        var viewer = logs.Host.Api(viewerKey);
        var stranger = logs.Host.Api(strangerKey);
        var unsigned = new ApiClient(logs.Host.UnsignedClient(), logs.Host);
        var path = Uri.EscapeDataString(logs.Folder + "a0.log");

        (await viewer.RawGetAsync(logs.Routes() + "/logs")).EnsureOk();
        (await viewer.RawGetAsync(logs.Routes() + "/log?path=" + path)).EnsureOk();
        AssertError(await stranger.RawGetAsync(logs.Routes() + "/logs"), HttpStatusCode.Forbidden, "Forbidden.RAM", "emr-serverless-spark:ListRayLogs");
        AssertError(await stranger.RawGetAsync(logs.Routes() + "/log?path=" + path), HttpStatusCode.Forbidden, "Forbidden.RAM", "emr-serverless-spark:GetRayLog");
        AssertError(await unsigned.RawGetAsync(logs.Routes() + "/logs"), HttpStatusCode.BadRequest, "IncompleteSignature");
    }
}
