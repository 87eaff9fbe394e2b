using System.Text;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs.Logs;

public sealed class LogStoreTests : IDisposable
{
    private const string Ws = "w-d2d82aa09155abcd";
    private const string Job = "rj-k7nm8ahl5te4tg91";
    private readonly string _dataFolder = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
    private readonly LogStore _store;

    public LogStoreTests()
    {
        Directory.CreateDirectory(_dataFolder);
        _store = new LogStore(new DataFolder(_dataFolder), Options.Create(new LogOptions()));
    }

    public void Dispose()
    {
        _store.Dispose();
        RayfleetHost.TryDelete(_dataFolder);
    }

    private static MemoryStream Text(string text) => new(Encoding.UTF8.GetBytes(text));

    private string Read(string relativeName) => File.ReadAllText(Path.Combine(_store.JobFolder(Ws, Job), relativeName));

    private string StagingFolder => Path.Combine(_dataFolder, "logs", ".tmp");

    [Fact]
    public void The_job_prefix_is_emr_logPath_and_files_live_under_it_in_the_data_folder()
    {
        Assert.Equal($"{Ws}/ray/logs/{Job}/", _store.JobPrefix(Ws, Job));
        Assert.Equal(Path.Combine(_dataFolder, "logs", Ws, "ray", "logs", Job), _store.JobFolder(Ws, Job));
        Assert.Equal(Job + "_driver.log", _store.DriverLogName(Job));
    }

    [Fact]
    public async Task A_replace_swaps_the_whole_file_and_leaves_no_staging_file()
    {
        await _store.ReplaceAsync(Ws, Job, "nodes/head/raylet.out", Text("first version, longer"), CancellationToken.None);
        await _store.ReplaceAsync(Ws, Job, "nodes/head/raylet.out", Text("second"), CancellationToken.None);
        await _store.WriteDriverLogAsync(Ws, Job, "driver output", CancellationToken.None);

        Assert.Equal("second", Read("nodes/head/raylet.out"));
        Assert.Equal("driver output", Read(Job + "_driver.log"));
        Assert.True(_store.HasFile(Ws, Job, "nodes/head/raylet.out"));
        Assert.False(_store.HasFile(Ws, Job, "nodes/head/gcs_server.out"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(StagingFolder));
    }

    [Fact]
    public async Task A_source_that_fails_half_way_leaves_the_earlier_file_whole_and_its_own_exception()
    {
        await _store.ReplaceAsync(Ws, Job, "driver.log", Text("complete earlier log"), CancellationToken.None);

        var e = await Assert.ThrowsAsync<IOException>(() =>
            _store.ReplaceAsync(Ws, Job, "driver.log", new FailingStream(Encoding.UTF8.GetBytes("partial")), CancellationToken.None));

        Assert.Equal(FailingStream.Message, e.Message);
        Assert.Equal("complete earlier log", Read("driver.log"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(StagingFolder));
    }

    [Fact]
    public async Task The_node_log_sink_writes_under_the_job_nodes_folder()
    {
        var sink = _store.NodeLogSink(Ws, Job);

        await sink.WriteAsync("ray-abc-head-x1y2z/raylet.out", Text("raylet"), CancellationToken.None);

        Assert.Equal("raylet", Read("nodes/ray-abc-head-x1y2z/raylet.out"));
        await Assert.ThrowsAsync<LogStoreException>(() => sink.WriteAsync("../escape.log", Text("x"), CancellationToken.None));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/etc/passwd")]
    [InlineData("../x.log")]
    [InlineData("nodes/../../x.log")]
    [InlineData("nodes/./x.log")]
    [InlineData("nodes//x.log")]
    [InlineData("nodes/")]
    [InlineData("nodes\\..\\x.log")]
    [InlineData("x\0.log")]
    [InlineData(".hidden")]
    [InlineData("C:x.log")]
    [InlineData("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q.log")]
    public async Task A_name_that_could_leave_the_job_folder_or_is_no_plain_name_is_refused(string relativeName)
    {
        var e = await Assert.ThrowsAsync<LogStoreException>(() => _store.ReplaceAsync(Ws, Job, relativeName, Text("x"), CancellationToken.None));

        Assert.Equal(LogStoreFailure.InvalidName, e.Failure);
        Assert.False(_store.HasFile(Ws, Job, relativeName));
        Assert.False(Directory.Exists(Path.Combine(_dataFolder, "logs", Ws)));
    }

    [Theory]
    [InlineData("..", Job)]
    [InlineData(Ws, "..")]
    [InlineData("w/x", Job)]
    [InlineData(Ws, "")]
    [InlineData(".w", Job)]
    public void Ids_that_are_no_plain_folder_names_are_refused(string workspaceId, string submissionId)
    {
        var e = Assert.Throws<LogStoreException>(() => _store.JobPrefix(workspaceId, submissionId));

        Assert.Equal(LogStoreFailure.InvalidName, e.Failure);
    }

    [Fact]
    public async Task A_file_where_a_folder_must_go_and_a_folder_where_a_file_must_go_are_refused()
    {
        await _store.ReplaceAsync(Ws, Job, "nodes/head", Text("a file"), CancellationToken.None);
        await _store.ReplaceAsync(Ws, Job, "other/x.log", Text("x"), CancellationToken.None);

        var under = await Assert.ThrowsAsync<LogStoreException>(() => _store.ReplaceAsync(Ws, Job, "nodes/head/raylet.out", Text("x"), CancellationToken.None));
        var over = await Assert.ThrowsAsync<LogStoreException>(() => _store.ReplaceAsync(Ws, Job, "other", Text("x"), CancellationToken.None));

        Assert.Equal(LogStoreFailure.InvalidName, under.Failure);
        Assert.Equal(LogStoreFailure.InvalidName, over.Failure);
        Assert.Equal("a file", Read("nodes/head"));
    }

    [Fact]
    public async Task A_write_through_a_linked_folder_is_refused()
    {
        var outside = Path.Combine(_dataFolder, "outside");
        Directory.CreateDirectory(outside);
        Directory.CreateDirectory(_store.JobFolder(Ws, Job));
        Directory.CreateSymbolicLink(Path.Combine(_store.JobFolder(Ws, Job), "nodes"), outside);

        var e = await Assert.ThrowsAsync<LogStoreException>(() => _store.ReplaceAsync(Ws, Job, "nodes/x.log", Text("x"), CancellationToken.None));

        Assert.Equal(LogStoreFailure.InvalidName, e.Failure);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task An_io_failure_of_the_store_is_a_LogStoreException_not_a_crash()
    {
        // The staging folder cannot be made: a file is in its place.
        Directory.CreateDirectory(Path.Combine(_dataFolder, "logs"));
        await File.WriteAllTextAsync(StagingFolder, "in the way");

        var e = await Assert.ThrowsAsync<LogStoreException>(() => _store.ReplaceAsync(Ws, Job, "driver.log", Text("x"), CancellationToken.None));

        Assert.Equal(LogStoreFailure.Io, e.Failure);
        Assert.IsAssignableFrom<IOException>(e.InnerException);
        Assert.Contains("Log store", e.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void A_real_full_disk_error_is_classified_as_DiskFull()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/dev/full"), "needs Linux's /dev/full, which answers every write with ENOSPC");
        IOException? full = null;
        try
        {
            using var device = new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            device.Write(new byte[4096]);
            device.Flush();
        }
        catch (IOException e)
        {
            full = e;
        }

        Assert.NotNull(full);
        Assert.Equal(LogStoreFailure.DiskFull, LogStoreException.Classify(full));
        Assert.Equal(LogStoreFailure.Io, LogStoreException.Classify(new IOException("other", 5)));
        Assert.Equal(LogStoreFailure.NotFound, LogStoreException.Classify(new FileNotFoundException()));
    }

    [Fact]
    public async Task Deleting_a_job_removes_its_folder_and_only_its_folder()
    {
        await _store.ReplaceAsync(Ws, Job, "nodes/head/raylet.out", Text("x"), CancellationToken.None);
        await _store.ReplaceAsync(Ws, "rj-0000000000000001", "driver.log", Text("y"), CancellationToken.None);

        Assert.True(await _store.DeleteJobAsync(Ws, Job, CancellationToken.None));
        Assert.False(await _store.DeleteJobAsync(Ws, Job, CancellationToken.None));

        Assert.False(Directory.Exists(_store.JobFolder(Ws, Job)));
        Assert.True(_store.HasFile(Ws, "rj-0000000000000001", "driver.log"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(StagingFolder));
    }

    [Fact]
    public async Task A_listing_reads_past_a_batch_of_empty_folders()
    {
        var folder = _store.JobFolder(Ws, Job);
        for (var i = 0; i < 5; i++) Directory.CreateDirectory(Path.Combine(folder, $"a{i}"));
        await _store.ReplaceAsync(Ws, Job, "b/late.log", Text("x"), CancellationToken.None);
        await _store.ReplaceAsync(Ws, Job, "c.log", Text("x"), CancellationToken.None);

        // maxKeys 1 asks each folder read for two children: the empty folders use up two batches first.
        var first = _store.List(Ws, Job, _store.JobPrefix(Ws, Job), delimited: false, marker: null, maxKeys: 1);
        var delimited = _store.List(Ws, Job, _store.JobPrefix(Ws, Job), delimited: true, marker: null, maxKeys: 1);

        Assert.Equal([_store.JobPrefix(Ws, Job) + "b/late.log"], first.Entries.Select(e => e.Key));
        Assert.True(first.IsTruncated);
        Assert.Equal([_store.JobPrefix(Ws, Job) + "b/"], delimited.Entries.Select(e => e.Key));
        Assert.True(delimited.Entries[0].IsDir);
    }

    private sealed class FailingStream(byte[] first) : Stream
    {
        public const string Message = "the source broke";
        private bool _gave;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_gave) throw new IOException(Message);
            _gave = true;
            first.CopyTo(buffer, offset);
            return first.Length;
        }
    }
}
