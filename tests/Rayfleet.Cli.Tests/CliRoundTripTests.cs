using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Cli.Tests;

/// <summary>The real service on a loopback port, and the real CLI talking to it over the socket.</summary>
public sealed class CliRoundTripTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "rayfleet-cli-tests", Guid.NewGuid().ToString("N"));
    private WebApplication? _app;
    private string _endpoint = "";

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration["Rayfleet:DataDirectory"] = _data;
        builder.Configuration["Rayfleet:DefaultProvider"] = "simulated";
        builder.Configuration["Logging:LogLevel:Default"] = "Warning";
        // The server's appsettings.json (release catalogue and all) is copied next to the test assembly.
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddRayfleet();
        _app = builder.Build();
        _app.UseRayfleet();
        await _app.StartAsync();
        _endpoint = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<(int Exit, string Out, string Err)> RunAsync(Dictionary<string, string?> env, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await new CliApp(stdout, stderr, env).RunAsync(args);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Configure_from_the_credentials_file_then_api_calls_round_trip_against_the_service()
    {
        var config = Path.Combine(_data, "cli-config.json");
        var env = new Dictionary<string, string?> { ["RAYFLEET_CONFIG"] = config };
        var credentials = Path.Combine(_data, "credentials.json");
        Assert.True(File.Exists(credentials), "the service writes a credentials file on first start");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(credentials));

        var configured = await RunAsync(env, "configure", "--credentials-file", credentials, "--endpoint", _endpoint);
        Assert.True(configured.Exit == 0, configured.Err + configured.Out);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));

        var list = await RunAsync(env, "api", "GET", "/api/v1/workspaces", "--query", "maxResults=10");
        Assert.True(list.Exit == 0, list.Err);
        var ws = JsonNode.Parse(list.Out)!["workspaces"]![0]!["workspaceId"]!.GetValue<string>();

        var created = await RunAsync(env, "api", "POST", $"/api/v1/workspaces/{ws}/rayCluster",
            "--body", "{\"name\":\"cli 中文\",\"headSpec\":{\"cpu\":\"1\",\"memory\":\"4Gi\"}}", "--action", "CreateRayCluster");
        Assert.True(created.Exit == 0, created.Err);
        var clusterId = JsonNode.Parse(created.Out)!["clusterId"]!.GetValue<string>();

        var bodyFile = Path.Combine(_data, "update.json");
        await File.WriteAllTextAsync(bodyFile, "{\"description\":\"from a file\"}");
        Assert.Equal(0, (await RunAsync(env, "api", "POST", $"/api/v1/workspaces/{ws}/rayCluster/{clusterId}", "--body", "@" + bodyFile)).Exit);

        var got = await RunAsync(env, "api", "GET", $"/api/v1/workspaces/{ws}/rayCluster/{clusterId}");
        Assert.Equal("cli 中文", JsonNode.Parse(got.Out)!["name"]!.GetValue<string>());
        Assert.Equal("from a file", JsonNode.Parse(got.Out)!["description"]!.GetValue<string>());

        // An error: non-zero exit, the error body on stderr, nothing on stdout.
        var missing = await RunAsync(env, "api", "GET", $"/api/v1/workspaces/{ws}/rayCluster/ray-doesnotexist0000");
        Assert.Equal(CliApp.ApiError, missing.Exit);
        Assert.Contains("InvalidRayCluster.NotFound", missing.Err, StringComparison.Ordinal);
        Assert.Equal("", missing.Out);
    }

    [Fact]
    public async Task A_wrong_secret_is_refused_by_the_service_and_reported()
    {
        var env = new Dictionary<string, string?>
        {
            ["RAYFLEET_CONFIG"] = Path.Combine(_data, "none.json"),
            ["RAYFLEET_ENDPOINT"] = _endpoint,
            ["RAYFLEET_ACCESS_KEY_ID"] = "RFAKNOSUCH000000000000",
            ["RAYFLEET_ACCESS_KEY_SECRET"] = "nope-nope-nope-nope",
        };
        var result = await RunAsync(env, "api", "GET", "/api/v1/workspaces");
        Assert.Equal(CliApp.ApiError, result.Exit);
        Assert.Contains("InvalidAccessKeyId.NotFound", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_errors_exit_2_and_an_unreachable_service_exits_3()
    {
        var env = new Dictionary<string, string?> { ["RAYFLEET_CONFIG"] = Path.Combine(_data, "none.json") };
        Assert.Equal(CliApp.UsageError, (await RunAsync(env, "api", "GET", "/api/v1/workspaces")).Exit); // not configured
        env["RAYFLEET_ENDPOINT"] = "http://127.0.0.1:1";
        env["RAYFLEET_ACCESS_KEY_ID"] = "a";
        env["RAYFLEET_ACCESS_KEY_SECRET"] = "b";
        Assert.Equal(CliApp.UsageError, (await RunAsync(env, "api", "GET", "/x", "--body", "{not json")).Exit);
        Assert.Equal(CliApp.UsageError, (await RunAsync(env, "api", "FETCH", "/x")).Exit);
        Assert.Equal(CliApp.Unreachable, (await RunAsync(env, "api", "GET", "/api/v1/workspaces")).Exit);
    }

    [Fact]
    public void Query_values_are_percent_encoded_as_the_signature_expects()
    {
        var uri = CliApp.BuildTarget("http://127.0.0.1:5080/", "/api/v1/x", ["name=a b/é", "pageSize=10"]);
        Assert.Equal("http://127.0.0.1:5080/api/v1/x?name=a%20b%2F%C3%A9&pageSize=10", uri!.AbsoluteUri);
        Assert.Null(CliApp.BuildTarget("http://h", "/x", ["novalue"]));
        _ = HttpStatusCode.OK;
    }
}
