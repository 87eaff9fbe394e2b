using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Jobs.Logs;

public sealed class GetRayLogTests
{
    private const string Driver = "rj-k7nm8ahl5te4tg91_driver.log";
    private const string Text = "0123456789 hello from the driver\n";

    private static async Task<LogTestHost> WithDriverLogAsync(IDictionary<string, string?>? settings = null)
    {
        var logs = await LogTestHost.StartAsync(settings);
        await logs.WriteAsync(Driver, Text);
        return logs;
    }

    /// <summary>A GET of a URL with no credential at all: no signature, no key.</summary>
    private static async Task<(HttpResponseMessage Response, byte[] Body, RawResponse Raw)> DownloadAsync(LogTestHost logs, string url, Action<HttpRequestMessage>? configure = null)
    {
        using var client = logs.Host.UnsignedClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url).PathAndQuery);
        configure?.Invoke(request);
        var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        var requestId = response.Headers.TryGetValues("x-acs-request-id", out var values) ? values.Single() : null;
        return (response, body, new RawResponse(response.StatusCode, Encoding.UTF8.GetString(body), response.Content.Headers.ContentType?.MediaType, requestId));
    }

    [Fact]
    public async Task The_body_is_the_reference_shape_and_the_accessUrl_downloads_the_file_without_credentials()
    {
        using var logs = await WithDriverLogAsync();

        var response = await logs.GetLogAsync($"bucketName=rayfleet-logs&path={Uri.EscapeDataString(logs.Folder + Driver)}");

        var body = response.EnsureOk().Json;
        Assert.Equal(["code", "message", "requestId", "data"], body.Select(p => p.Key));
        Assert.Equal("1000000", body["code"]!.GetValue<string>());
        Assert.Equal("ok", body["message"]!.GetValue<string>());
        Assert.Equal(response.RequestIdHeader, body["requestId"]!.GetValue<string>());
        var data = body["data"]!.AsObject();
        Assert.Equal(["accessUrl"], data.Select(p => p.Key));
        Assert.Equal(JsonValueKind.String, Kind(data, "accessUrl"));
        var url = data["accessUrl"]!.GetValue<string>();
        Assert.StartsWith("http://localhost/logs/v1/", url, StringComparison.Ordinal);

        var (download, bytes, _) = await DownloadAsync(logs, url);

        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(Text, Encoding.UTF8.GetString(bytes));
        Assert.Equal("text/plain", download.Content.Headers.ContentType?.MediaType);
        Assert.Equal("bytes", download.Headers.AcceptRanges.Single());
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task A_path_without_its_leading_slash_works_and_PublicBaseUrl_makes_the_url()
    {
        using var logs = await WithDriverLogAsync(new Dictionary<string, string?> { ["Rayfleet:PublicBaseUrl"] = "https://rayfleet.example.com/base/" });

        var url = (await logs.GetLogAsync("path=" + Uri.EscapeDataString(logs.Folder[1..] + Driver))).EnsureOk().Json["data"]!["accessUrl"]!.GetValue<string>();

        Assert.StartsWith("https://rayfleet.example.com/base/logs/v1/", url, StringComparison.Ordinal);
        // The host answers the same path without the base path (the proxy strips it); here, the token is what counts.
        var token = url[(url.LastIndexOf('/') + 1)..];
        var (download, bytes, _) = await DownloadAsync(logs, "http://localhost/logs/v1/" + token);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(Text, Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_range_request_gets_206_with_exactly_those_bytes()
    {
        using var logs = await WithDriverLogAsync();
        var url = await logs.AccessUrlAsync(Driver);

        var (middle, middleBytes, _) = await DownloadAsync(logs, url, r => r.Headers.Range = new RangeHeaderValue(2, 5));
        var (tail, tailBytes, _) = await DownloadAsync(logs, url, r => r.Headers.Range = new RangeHeaderValue(null, 6));

        Assert.Equal(HttpStatusCode.PartialContent, middle.StatusCode);
        Assert.Equal("2345", Encoding.UTF8.GetString(middleBytes));
        Assert.Equal($"bytes 2-5/{Text.Length}", middle.Content.Headers.ContentRange!.ToString());
        Assert.Equal(HttpStatusCode.PartialContent, tail.StatusCode);
        Assert.Equal(Text[^6..], Encoding.UTF8.GetString(tailBytes));
    }

    [Fact]
    public async Task The_url_works_until_its_lifetime_ends_and_is_refused_after_with_403()
    {
        using var logs = await WithDriverLogAsync(new Dictionary<string, string?> { ["Rayfleet:Logs:UrlLifetime"] = "00:10:00" });
        var url = await logs.AccessUrlAsync(Driver);

        logs.Host.Clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        var (before, _, _) = await DownloadAsync(logs, url);
        logs.Host.Clock.Advance(TimeSpan.FromSeconds(1));
        var (_, _, after) = await DownloadAsync(logs, url);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        AssertError(after, HttpStatusCode.Forbidden, "InvalidRayLogUrl.Expired", "expired");
    }

    [Fact]
    public async Task A_tampered_malformed_or_foreign_url_is_refused_with_403()
    {
        using var logs = await WithDriverLogAsync();
        var url = await logs.AccessUrlAsync(Driver);
        var token = url[(url.LastIndexOf('/') + 1)..];
        // A token of another Rayfleet (its own Data Protection keys) for the same workspace, job and file name.
        using var other = await WithDriverLogAsync();
        var foreign = await other.AccessUrlAsync(Driver);

        var middle = token.Length / 2;
        var flipped = token[..middle] + (token[middle] == 'A' ? 'B' : 'A') + token[(middle + 1)..];
        foreach (var attempt in new[]
                 {
                     flipped, token[..^1], token + "A", "abc", "%2e%2e%2f%2e%2e%2frayfleet.db", "..%2F..%2Frayfleet.db",
                     new string('A', 5000), foreign[(foreign.LastIndexOf('/') + 1)..],
                 })
        {
            var (_, _, raw) = await DownloadAsync(logs, "http://localhost/logs/v1/" + attempt);
            AssertError(raw, HttpStatusCode.Forbidden, "InvalidRayLogUrl.Signature");
        }
        // Nothing but the token: a signed request without one, or a path below the route, is no download.
        var (_, _, signedWithoutToken) = await DownloadAsync(logs, "http://localhost/logs/v1/");
        Assert.Equal(HttpStatusCode.NotFound, signedWithoutToken.Status);
        var (_, _, below) = await DownloadAsync(logs, url + "/../../../rayfleet.db");
        Assert.NotEqual(HttpStatusCode.OK, below.Status);
        Assert.DoesNotContain("SQLite", below.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FOLDER../rj-0000000000000000/x.log")]
    [InlineData("FOLDERnodes/../../../../../rayfleet.db")]
    [InlineData("/etc/passwd")]
    [InlineData("../../rayfleet.db")]
    [InlineData("FOLDERnodes\\..\\x.log")]
    [InlineData("FOLDERnodes//x.log")]
    [InlineData("FOLDER.hidden")]
    [InlineData("FOLDER")]
    [InlineData("FOLDERa/")]
    public async Task A_path_that_leaves_the_job_folder_or_is_no_file_name_is_InvalidParameter_naming_path(string path)
    {
        using var logs = await WithDriverLogAsync();

        var response = await logs.GetLogAsync("path=" + Uri.EscapeDataString(path.Replace("FOLDER", logs.Folder, StringComparison.Ordinal)));

        AssertError(response, HttpStatusCode.BadRequest, "InvalidParameter", "path");
    }

    [Fact]
    public async Task Encoded_slashes_and_nul_in_the_path_are_refused()
    {
        using var logs = await WithDriverLogAsync();

        AssertError(await logs.GetLogAsync("path=" + logs.Folder + "nodes%2F..%2F..%2F..%2F..%2F..%2Frayfleet.db"), HttpStatusCode.BadRequest, "InvalidParameter", "path");
        AssertError(await logs.GetLogAsync("path=" + logs.Folder + Driver + "%00.txt"), HttpStatusCode.BadRequest, "InvalidParameter", "path");
        AssertError(await logs.GetLogAsync("path=" + logs.Folder + "%2e%2e/x.log"), HttpStatusCode.BadRequest, "InvalidParameter", "path");
        AssertError(await logs.GetLogAsync("bucketName=rayfleet-logs"), HttpStatusCode.BadRequest, "MissingParameter.path", "path");
    }

    [Fact]
    public async Task A_symbolic_link_in_the_job_folder_is_no_log_file()
    {
        using var logs = await WithDriverLogAsync();
        var folder = logs.Store.JobFolder(logs.WorkspaceId, LogTestHost.Job);
        File.CreateSymbolicLink(Path.Combine(folder, "db.log"), Path.Combine(logs.Host.DataDirectory, "rayfleet.db"));
        Directory.CreateSymbolicLink(Path.Combine(folder, "data"), logs.Host.DataDirectory);

        AssertError(await logs.GetLogAsync("path=" + Uri.EscapeDataString(logs.Folder + "db.log")), HttpStatusCode.NotFound, "InvalidRayLog.NotFound");
        AssertError(await logs.GetLogAsync("path=" + Uri.EscapeDataString(logs.Folder + "data/rayfleet.db")), HttpStatusCode.NotFound, "InvalidRayLog.NotFound");
    }

    [Fact]
    public async Task A_url_to_a_file_replaced_by_a_link_after_it_was_made_does_not_follow_the_link()
    {
        using var logs = await WithDriverLogAsync();
        var url = await logs.AccessUrlAsync(Driver);
        var file = Path.Combine(logs.Store.JobFolder(logs.WorkspaceId, LogTestHost.Job), Driver);
        File.Delete(file);
        File.CreateSymbolicLink(file, Path.Combine(logs.Host.DataDirectory, "rayfleet.db"));

        var (_, _, raw) = await DownloadAsync(logs, url);

        AssertError(raw, HttpStatusCode.NotFound, "InvalidRayLog.NotFound");
    }

    [Fact]
    public async Task A_missing_file_is_a_404_body_when_asked_for_and_when_gone_before_the_download()
    {
        using var logs = await WithDriverLogAsync();
        var url = await logs.AccessUrlAsync(Driver);

        AssertError(await logs.GetLogAsync("path=" + Uri.EscapeDataString(logs.Folder + "nodes/none.log")), HttpStatusCode.NotFound, "InvalidRayLog.NotFound", "nodes/none.log");
        AssertError(await logs.GetLogAsync("path=" + Uri.EscapeDataString(logs.Folder + Driver), submissionId: "rj-0000000000000000"),
            HttpStatusCode.NotFound, "InvalidRayJob.NotFound");
        Assert.True(await logs.Store.DeleteJobAsync(logs.WorkspaceId, LogTestHost.Job, CancellationToken.None));
        var (_, _, raw) = await DownloadAsync(logs, url);
        AssertError(raw, HttpStatusCode.NotFound, "InvalidRayLog.NotFound", Driver);
    }

    [Fact]
    public async Task A_file_replaced_after_the_url_was_made_downloads_in_its_new_version()
    {
        using var logs = await WithDriverLogAsync();
        var url = await logs.AccessUrlAsync(Driver);

        await logs.WriteAsync(Driver, Text + "more output\n");
        var (_, bytes, _) = await DownloadAsync(logs, url);

        Assert.Equal(Text + "more output\n", Encoding.UTF8.GetString(bytes));
    }
}
