using System.Text;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Providers.Local;

/// <summary>Jobs and node logs on the local provider: Ray's job API on the head's dashboard, log files copied from disk.</summary>
public sealed partial class LocalProvider
{
    /// <summary>The most of one log file that <see cref="CollectNodeLogsAsync"/> copies: its end.</summary>
    public const long MaxCollectedLogBytes = 16L * 1024 * 1024;

    /// <summary>The most files <see cref="CollectNodeLogsAsync"/> copies from Ray's session log folder.</summary>
    public const int MaxCollectedSessionFiles = 500;

    /// <summary>
    /// A <see cref="RayJobClient"/> on the instance head's dashboard; null while the instance has no head process
    /// (not applied yet, stopping, stopped or failed) or its head runs without the dashboard. A head that runs but
    /// whose dashboard does not answer yet gets a client: its submits answer <see cref="RaySubmitOutcome.NotReady"/>.
    /// </summary>
    public Task<IRayJobApi?> JobApiAsync(string instanceId, CancellationToken cancellationToken)
    {
        LocalInstanceState? state;
        try
        {
            // The state file is replaced atomically: reading it needs no gate.
            state = _store.Load(instanceId);
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            state = null;
        }
        if (state is not { FailureMessage: null, Stopped: false, StopRequestedAt: null, Ports: { } ports, DashboardDisabled: false }
            || state.Nodes.FirstOrDefault(n => n.IsHead) is not { Pid: not null })
            return Task.FromResult<IRayJobApi?>(null);
        var url = state.DashboardUrl ?? $"http://{NodeIp}:{ports.Dashboard}";
        return Task.FromResult<IRayJobApi?>(new RayJobClient(_httpClients.CreateClient(RayJobClient.HttpClientName), new Uri(url)));
    }

    /// <summary>
    /// Copies every node's log (what its <c>ray start</c> wrote, <c>logs/{nodeId}.log</c>) as <c>{nodeId}/ray.log</c>,
    /// scaled-away workers' included, and Ray's own session logs of the head's temp folder (raylet, GCS, dashboard,
    /// job drivers: every local node writes there) as <c>{headNodeId}/session_latest/logs/...</c>. Each file is cut
    /// to its last <see cref="MaxCollectedLogBytes"/>, after a first line that says so.
    /// </summary>
    public async Task CollectNodeLogsAsync(string instanceId, INodeLogSink sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        // The gate keeps a concurrent Remove from deleting the folder midway.
        using (await _gates.EnterAsync(instanceId, cancellationToken))
        {
            LocalInstanceState? state;
            try
            {
                state = _store.Load(instanceId);
            }
            catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
            {
                state = null;
            }

            var logs = _paths.LogsDir(instanceId);
            if (Directory.Exists(logs))
            {
                foreach (var file in Directory.EnumerateFiles(logs, "*.log").Order(StringComparer.Ordinal))
                {
                    var nodeId = Path.GetFileNameWithoutExtension(file);
                    await CopyTailAsync(file, $"{nodeId}/ray.log", sink, cancellationToken);
                }
            }

            if (state?.Nodes.FirstOrDefault(n => n.IsHead) is not { } head) return;
            var session = Path.Combine(state.TempDir, "session_latest", "logs");
            if (!Directory.Exists(session)) return;
            var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true };
            foreach (var file in Directory.EnumerateFiles(session, "*", options).Order(StringComparer.Ordinal).Take(MaxCollectedSessionFiles))
            {
                var relative = Path.GetRelativePath(session, file).Replace(Path.DirectorySeparatorChar, '/');
                await CopyTailAsync(file, $"{head.Id}/session_latest/logs/{relative}", sink, cancellationToken);
            }
        }
    }

    private static async Task CopyTailAsync(string path, string name, INodeLogSink sink, CancellationToken ct)
    {
        FileStream file;
        try
        {
            // Nodes may still write: share, and copy what is there now.
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // gone or unreadable: nothing to keep
        }
        await using (file)
        {
            var length = file.Length;
            var skipped = Math.Max(0, length - MaxCollectedLogBytes);
            var prefix = skipped > 0
                ? Encoding.UTF8.GetBytes($"[rayfleet: this log was cut to its last {MaxCollectedLogBytes} bytes; {skipped} earlier bytes were left out]\n")
                : [];
            file.Seek(skipped, SeekOrigin.Begin);
            await using var content = new TailStream(prefix, file, length - skipped);
            await sink.WriteAsync(name, content, ct);
        }
    }

    /// <summary>A read-only stream of a prefix, then at most <c>count</c> bytes of a file from where it stands.</summary>
    private sealed class TailStream(byte[] prefix, Stream file, long count) : Stream
    {
        private int _prefixRead;
        private long _left = count;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefixRead < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _prefixRead);
                prefix.AsSpan(_prefixRead, n).CopyTo(buffer);
                _prefixRead += n;
                return n;
            }
            if (_left <= 0) return 0;
            var read = file.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefixRead < prefix.Length) return Read(buffer.Span);
            if (_left <= 0) return 0;
            var read = await file.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken);
            _left -= read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
