using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs.Logs;

public sealed class LogRetentionTests : IDisposable
{
    private const string Ws = "w-d2d82aa09155abcd";
    private readonly string _dataFolder = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly LogOptions _options = new() { Retention = TimeSpan.FromDays(30), SweepInterval = TimeSpan.FromHours(1) };
    private readonly LogStore _store;

    public LogRetentionTests()
    {
        Directory.CreateDirectory(_dataFolder);
        _store = new LogStore(new DataFolder(_dataFolder), Options.Create(_options));
    }

    public void Dispose()
    {
        _store.Dispose();
        RayfleetHost.TryDelete(_dataFolder);
    }

    private LogRetention Retention() => new(_store, Options.Create(_options), _clock, NullLogger<LogRetention>.Instance);

    private async Task WriteAsync(string job, string name, DateTimeOffset? modified = null)
    {
        await _store.ReplaceAsync(Ws, job, name, new MemoryStream(Encoding.UTF8.GetBytes(name)), CancellationToken.None);
        if (modified is { } m) File.SetLastWriteTimeUtc(Path.Combine(_store.JobFolder(Ws, job), name), m.UtcDateTime);
    }

    private bool Exists(string job) => Directory.Exists(_store.JobFolder(Ws, job));

    [Fact]
    public async Task A_job_folder_goes_once_its_newest_file_is_older_than_the_retention()
    {
        var now = _clock.GetUtcNow();
        await WriteAsync("rj-000000000000old", "driver.log", now - TimeSpan.FromDays(40));
        await WriteAsync("rj-000000000000old", "nodes/head/raylet.out", now - TimeSpan.FromDays(31));
        // One old file and one new: the new one keeps the folder.
        await WriteAsync("rj-00000000000mixed", "driver.log", now - TimeSpan.FromDays(40));
        await WriteAsync("rj-00000000000mixed", "nodes/head/raylet.out");
        var retention = Retention();

        Assert.Equal(1, await retention.SweepAsync(CancellationToken.None));
        Assert.False(Exists("rj-000000000000old"));
        Assert.True(Exists("rj-00000000000mixed"));

        _clock.Advance(TimeSpan.FromDays(29));
        Assert.Equal(0, await retention.SweepAsync(CancellationToken.None));
        Assert.True(Exists("rj-00000000000mixed"));

        _clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        Assert.Equal(1, await retention.SweepAsync(CancellationToken.None));
        Assert.False(Exists("rj-00000000000mixed"));
    }

    [Fact]
    public async Task A_sweep_looks_at_no_more_than_MaxJobsPerSweep_folders_and_the_next_carries_on()
    {
        _options.MaxJobsPerSweep = 2;
        var old = _clock.GetUtcNow() - TimeSpan.FromDays(31);
        for (var i = 0; i < 5; i++) await WriteAsync($"rj-00000000000000{i:00}", "driver.log", old);
        await WriteAsync("rj-0000000000000new", "driver.log");
        var retention = Retention();

        var removed = new List<int>();
        for (var sweep = 0; sweep < 4; sweep++) removed.Add(await retention.SweepAsync(CancellationToken.None));

        // Six folders, two a sweep: 2, 2, then 1 old and the new one, then the store from its start again.
        Assert.Equal([2, 2, 1, 0], removed);
        Assert.True(Exists("rj-0000000000000new"));
        Assert.Equal(["rj-0000000000000new"], Directory.GetDirectories(Path.Combine(_dataFolder, "logs", Ws, "ray", "logs")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task The_service_sweeps_at_start_and_then_every_interval_of_its_clock()
    {
        await WriteAsync("rj-00000000000first", "driver.log");
        var retention = Retention();
        using var stop = new CancellationTokenSource();
        await retention.StartAsync(stop.Token);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await retention.WaitForSweepsAsync(1, deadline.Token);
            Assert.True(Exists("rj-00000000000first"));

            _clock.Advance(TimeSpan.FromDays(31));
            // The timer fires on the fake clock's advance; the sweep after it sees a folder past its retention.
            await retention.WaitForSweepsAsync(2, deadline.Token);
            Assert.False(Exists("rj-00000000000first"));
        }
        finally
        {
            await retention.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Staging_leftovers_older_than_a_day_are_cleared_and_fresh_ones_kept()
    {
        var staging = Path.Combine(_dataFolder, "logs", ".tmp");
        Directory.CreateDirectory(staging);
        var stale = Path.Combine(staging, "stale");
        var fresh = Path.Combine(staging, "fresh");
        await File.WriteAllTextAsync(stale, "x");
        await File.WriteAllTextAsync(fresh, "x");
        File.SetLastWriteTimeUtc(stale, _clock.GetUtcNow().UtcDateTime - TimeSpan.FromDays(2));

        await Retention().SweepAsync(CancellationToken.None);

        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(fresh));
    }

    [Theory]
    [InlineData("Retention", "00:00:00")]
    [InlineData("BucketName", "My_Bucket")]
    [InlineData("UrlLifetime", "8.00:00:00")]
    [InlineData("SweepInterval", "00:00:00")]
    [InlineData("PublicBaseUrl", "ftp://x")]
    public void A_broken_log_setting_is_named_in_the_failure(string setting, string value)
    {
        var options = new LogOptions();
        var property = typeof(LogOptions).GetProperty(setting)!;
        property.SetValue(options, property.PropertyType == typeof(TimeSpan) ? TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : value);

        var result = new LogOptionsValidator().Validate(null, options);

        var failure = Assert.Single(result.Failures!);
        Assert.StartsWith(setting == "PublicBaseUrl" ? "Rayfleet:PublicBaseUrl: " : $"Rayfleet:Logs:{setting}: ", failure, StringComparison.Ordinal);
        Assert.True(new LogOptionsValidator().Validate(null, new LogOptions()).Succeeded);
    }
}
