using System.Net;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Hosting;

/// <summary>
/// The built server started as an installed one is: <c>dotnet Rayfleet.Server.dll</c> from a folder that is not its
/// own, with nothing but its shipped defaults, as a systemd unit or a tarball install starts it.
/// </summary>
public sealed class StartupTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("rayfleet-startup-").FullName;

    /// <summary>A working directory with nothing in it, and a home of its own (the default data folder is per user).</summary>
    private string WorkingDirectory => Directory.CreateDirectory(Path.Combine(_root, "cwd")).FullName;

    private Dictionary<string, string?> Environment => new()
    {
        ["HOME"] = Directory.CreateDirectory(Path.Combine(_root, "home")).FullName,
        ["XDG_DATA_HOME"] = Path.Combine(_root, "xdg"),
        // Nothing may point the service at its folder but the service itself.
        ["ASPNETCORE_CONTENTROOT"] = null,
        ["DOTNET_CONTENTROOT"] = null,
    };

    [Fact]
    public async Task The_server_started_from_another_folder_runs_on_its_shipped_defaults_and_keeps_its_data_per_user()
    {
        using (var service = await ServiceProcess.StartAsync(new Dictionary<string, string?>(), WorkingDirectory, Environment))
        {
            using var http = ServiceProcess.Client(service.Address);
            var releases = await http.GetStringAsync("/api/v1/releaseVersions");
            Assert.Contains("ray-1.2.0 (Ray 2.55.1, Python 3.12)", releases, StringComparison.Ordinal);
        }

        Assert.True(File.Exists(Path.Combine(_root, "xdg", "rayfleet", "rayfleet.db")));
        Assert.Empty(Directory.GetFileSystemEntries(WorkingDirectory));
    }

    [Theory]
    [InlineData("Rayfleet:Reconciler:ResyncInterval", "abc")]
    [InlineData("Rayfleet:Reconciler:MaxParallelism", "0")]
    [InlineData("Rayfleet:DefaultProvider", "nosuch")]
    [InlineData("Rayfleet:Kubernetes:InCluster", "maybe")]
    [InlineData("Rayfleet:DataDirectory", "{file}/data")]
    public async Task A_broken_setting_stops_the_server_with_one_line_naming_it(string setting, string value)
    {
        var file = Path.Combine(_root, "a-file");
        await File.WriteAllTextAsync(file, "not a folder");

        var (exitCode, stdout, stderr) = await ServiceProcess.RunToExitAsync(
            ["--urls", "http://127.0.0.1:0", $"--{setting}={value.Replace("{file}", file, StringComparison.Ordinal)}"],
            WorkingDirectory, Environment, TimeSpan.FromSeconds(60));

        Assert.Equal(RayfleetOptionsErrors.ExitCode, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"rayfleet: configuration error: {setting}: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_data_folder_follows_the_xdg_rule_and_ignores_a_relative_xdg_data_home()
    {
        static string Default(string? xdg, string home) =>
            RayfleetOptions.DefaultDataDirectory(name => name == "XDG_DATA_HOME" ? xdg : null, home, windows: false);

        Assert.Equal("/srv/xdg/rayfleet", Default("/srv/xdg", "/home/ana"));
        Assert.Equal("/home/ana/.local/share/rayfleet", Default(null, "/home/ana"));
        Assert.Equal("/home/ana/.local/share/rayfleet", Default("relative/xdg", "/home/ana"));
        Assert.Equal("", Default(null, ""));
    }

    public void Dispose() => RayfleetHost.TryDelete(_root);
}
