using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Jobs.Logs;

public enum LogStoreFailure
{
    /// <summary>The disk (or the user's quota) is full: ENOSPC, EDQUOT, ERROR_DISK_FULL.</summary>
    DiskFull,
    /// <summary>No such file, or it is not one the store serves (a folder, a symbolic link).</summary>
    NotFound,
    /// <summary>An id or a file name the store refuses (see <see cref="LogNames"/>), or one that clashes with a folder.</summary>
    InvalidName,
    /// <summary>Any other failure of the file system.</summary>
    Io,
}

/// <summary>A log store failure the caller can report (in a job's message, in a log line); never a crash.</summary>
public sealed class LogStoreException(LogStoreFailure failure, string message, Exception? inner = null) : Exception(message, inner)
{
    public LogStoreFailure Failure { get; } = failure;

    /// <summary>Names the failure of an IO exception: a full disk by its errno or Windows error, else <see cref="LogStoreFailure.Io"/>.</summary>
    public static LogStoreFailure Classify(Exception exception) => exception switch
    {
        FileNotFoundException or DirectoryNotFoundException => LogStoreFailure.NotFound,
        IOException io when IsDiskFull(io.HResult) => LogStoreFailure.DiskFull,
        _ => LogStoreFailure.Io,
    };

    // On Unix .NET puts the raw errno in HResult (ENOSPC 28, EDQUOT 122 on Linux, 69 on macOS); on Windows it is the
    // HRESULT of ERROR_DISK_FULL (0x70) or ERROR_HANDLE_DISK_FULL (0x27).
    private static bool IsDiskFull(int hresult) =>
        OperatingSystem.IsWindows()
            ? hresult is unchecked((int)0x80070070) or unchecked((int)0x80070027)
            : hresult == 28 || (OperatingSystem.IsLinux() && hresult == 122) || (OperatingSystem.IsMacOS() && hresult == 69);
}

/// <summary>A file of the store, found and checked.</summary>
public sealed record LogFile(string Key, string FullPath, long Size, DateTimeOffset Modified);

/// <summary>
/// Job logs under <c>&lt;DataFolder&gt;/logs</c>, laid out as object keys after EMR's <c>logPath</c>:
/// <c>&lt;workspaceId&gt;/ray/logs/&lt;submissionId&gt;/…</c>, the key being the file's path below the root. The driver
/// log is <c>&lt;submissionId&gt;_driver.log</c> in the job's folder, node logs are under <c>nodes/</c>. Writes replace
/// whole files atomically (a temporary file in <c>.tmp/</c>, then a rename), so a reader sees the old or the new file,
/// never half of one; writes and deletes of one job take turns.
/// </summary>
public sealed partial class LogStore : IJobLogWriter, IDisposable
{
    private const string TempFolderName = ".tmp";
    private readonly KeyedGates _gates = new();

    public LogStore(DataFolder dataFolder, IOptions<LogOptions> options)
    {
        Root = Path.Combine(dataFolder.Path, "logs");
        TempFolder = Path.Combine(Root, TempFolderName);
        BucketName = options.Value.BucketName;
    }

    /// <summary>The store's folder, absolute.</summary>
    public string Root { get; }

    /// <summary>Where writes are staged; on the same file system as every job folder, so the final rename is atomic.</summary>
    private string TempFolder { get; }

    /// <summary>The <c>logBucketName</c> jobs report.</summary>
    public string BucketName { get; }

    /// <summary>The job's <c>logPath</c>: <c>&lt;workspaceId&gt;/ray/logs/&lt;submissionId&gt;/</c> (ends with '/', no leading '/').</summary>
    public string JobPrefix(string workspaceId, string submissionId)
    {
        CheckIds(workspaceId, submissionId);
        return $"{workspaceId}/ray/logs/{submissionId}/";
    }

    /// <summary>The driver log's name inside the job's folder (EMR names it <c>&lt;submissionId&gt;_driver.log</c>).</summary>
    public string DriverLogName(string submissionId) => submissionId + "_driver.log";

    /// <summary>The folder node logs go to inside the job's folder.</summary>
    public const string NodesFolder = "nodes";

    /// <summary>
    /// Writes <paramref name="content"/> as the job's file <paramref name="relativeName"/> (e.g. <c>nodes/head/raylet.out</c>),
    /// replacing any earlier one atomically. A failure of the store (full disk, a name it refuses, any IO error) is a
    /// <see cref="LogStoreException"/> and leaves the earlier file as it was; a failure reading
    /// <paramref name="content"/> comes out as thrown.
    /// </summary>
    public async Task ReplaceAsync(string workspaceId, string submissionId, string relativeName, Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        CheckIds(workspaceId, submissionId);
        if (LogNames.Problem(relativeName) is { } problem)
            throw new LogStoreException(LogStoreFailure.InvalidName, $"The log file name '{Shown(relativeName)}' {problem}.");

        var jobFolder = JobFolder(workspaceId, submissionId);
        var target = Path.Combine(jobFolder, relativeName);
        using var _ = await _gates.EnterAsync(JobPrefix(workspaceId, submissionId), cancellationToken);
        var temp = Path.Combine(TempFolder, Guid.NewGuid().ToString("N"));
        try
        {
            FileStream file;
            try
            {
                Directory.CreateDirectory(TempFolder);
                file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Wrap(e, $"cannot create a file in {TempFolder}");
            }
            await using (file)
            {
                var buffer = new byte[64 * 1024];
                int read;
                // Only the writes are the store's failures; the source's own exceptions pass through unchanged.
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    try
                    {
                        await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        throw Wrap(e, $"cannot write {relativeName}");
                    }
                }
                try
                {
                    await file.FlushAsync(cancellationToken);
                    // On disk before the rename: after a power loss the file is the old or the new one, not an empty one.
                    file.Flush(flushToDisk: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw Wrap(e, $"cannot write {relativeName}");
                }
            }
            try
            {
                PrepareFolders(jobFolder, relativeName);
                File.Move(temp, target, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Wrap(e, $"cannot store {relativeName}");
            }
        }
        finally
        {
            TryDeleteFile(temp);
        }
    }

    /// <summary>Writes the job's driver log (<see cref="DriverLogName"/>) from text, replacing the earlier one.</summary>
    public async Task WriteDriverLogAsync(string workspaceId, string submissionId, string text, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text ?? ""), writable: false);
        await ReplaceAsync(workspaceId, submissionId, DriverLogName(submissionId), content, cancellationToken);
    }

    /// <summary>A sink for a provider's node logs: entry <c>head/raylet.out</c> becomes the job's <c>nodes/head/raylet.out</c>.</summary>
    INodeLogSink IJobLogWriter.NodeLogs(string workspaceId, string submissionId) => NodeLogSink(workspaceId, submissionId);

    public INodeLogSink NodeLogSink(string workspaceId, string submissionId)
    {
        CheckIds(workspaceId, submissionId);
        return new JobNodeLogSink(this, workspaceId, submissionId);
    }

    /// <summary>Whether the job's folder holds the file (false for a name the store would refuse).</summary>
    public bool HasFile(string workspaceId, string submissionId, string relativeName)
    {
        try
        {
            return Find(workspaceId, submissionId, relativeName) is not null;
        }
        catch (LogStoreException)
        {
            return false;
        }
    }

    /// <summary>
    /// The job's file, checked: a valid name, a regular file, no symbolic link on the way from the job's folder. Null
    /// when there is none.
    /// </summary>
    public LogFile? Find(string workspaceId, string submissionId, string relativeName)
    {
        CheckIds(workspaceId, submissionId);
        if (LogNames.Problem(relativeName) is { } problem)
            throw new LogStoreException(LogStoreFailure.InvalidName, $"The log file name '{Shown(relativeName)}' {problem}.");
        var jobFolder = JobFolder(workspaceId, submissionId);
        try
        {
            if (!CheckNoLinks(jobFolder, relativeName, includeLast: true)) return null;
            var info = new FileInfo(Path.Combine(jobFolder, relativeName));
            if (!info.Exists) return null;
            return new LogFile(JobPrefix(workspaceId, submissionId) + relativeName, info.FullName, info.Length, new DateTimeOffset(info.LastWriteTimeUtc));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(e, $"cannot read {relativeName}");
        }
    }

    /// <summary>Opens the job's file for reading (others may replace or delete it meanwhile); null when there is none.</summary>
    public FileStream? OpenRead(string workspaceId, string submissionId, string relativeName)
    {
        var file = Find(workspaceId, submissionId, relativeName);
        if (file is null) return null;
        try
        {
            return new FileStream(file.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null; // deleted between the check and the open
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(e, $"cannot read {relativeName}");
        }
    }

    /// <summary>
    /// Removes the job's folder and everything in it; false when there was none. The folder is first renamed away, so
    /// a reader sees all of it or nothing.
    /// </summary>
    public async Task<bool> DeleteJobAsync(string workspaceId, string submissionId, CancellationToken cancellationToken)
    {
        CheckIds(workspaceId, submissionId);
        using var _ = await _gates.EnterAsync(JobPrefix(workspaceId, submissionId), cancellationToken);
        return DeleteJobFolder(JobFolder(workspaceId, submissionId));
    }

    /// <summary>Deletes a job folder unless <paramref name="stillExpired"/> says otherwise once the job's writers are held off.</summary>
    internal async Task<bool> DeleteJobIfAsync(string workspaceId, string submissionId, Func<string, bool> stillExpired, CancellationToken cancellationToken)
    {
        using var _ = await _gates.EnterAsync(JobPrefix(workspaceId, submissionId), cancellationToken);
        var folder = JobFolder(workspaceId, submissionId);
        return stillExpired(folder) && DeleteJobFolder(folder);
    }

    private bool DeleteJobFolder(string folder)
    {
        try
        {
            if (!Directory.Exists(folder)) return false;
            Directory.CreateDirectory(TempFolder);
            var doomed = Path.Combine(TempFolder, Guid.NewGuid().ToString("N"));
            Directory.Move(folder, doomed);
            // Recursive delete removes a symbolic link, never what it points to.
            Directory.Delete(doomed, recursive: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(e, $"cannot delete {folder}");
        }
    }

    /// <summary>The job's folder on disk (it may not exist yet).</summary>
    public string JobFolder(string workspaceId, string submissionId)
    {
        CheckIds(workspaceId, submissionId);
        return Path.Combine(Root, workspaceId, "ray", "logs", submissionId);
    }

    /// <summary>The folders that hold job folders, one per workspace: <c>&lt;Root&gt;/&lt;workspaceId&gt;/ray/logs</c>.</summary>
    internal IEnumerable<(string WorkspaceId, string Folder)> WorkspaceFolders()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var ws in new DirectoryInfo(Root).EnumerateDirectories())
        {
            if (!LogNames.IsId(ws.Name) || IsLink(ws)) continue;
            var logs = Path.Combine(ws.FullName, "ray", "logs");
            if (Directory.Exists(logs)) yield return (ws.Name, logs);
        }
    }

    /// <summary>
    /// False when a folder or file on the way from the job's folder to <paramref name="relativeName"/> is a symbolic
    /// link: the store serves only what it wrote, and a link could point anywhere.
    /// </summary>
    private static bool CheckNoLinks(string jobFolder, string relativeName, bool includeLast)
    {
        var current = jobFolder;
        if (IsLinkPath(current)) return false;
        var segments = relativeName.Split('/');
        for (var i = 0; i < (includeLast ? segments.Length : segments.Length - 1); i++)
        {
            current = Path.Combine(current, segments[i]);
            if (IsLinkPath(current)) return false;
        }
        return true;
    }

    /// <summary>Creates the folders of a file to be written, refusing a link or a file where a folder goes, and a folder where the file goes.</summary>
    private static void PrepareFolders(string jobFolder, string relativeName)
    {
        if (!CheckNoLinks(jobFolder, relativeName, includeLast: false))
            throw new LogStoreException(LogStoreFailure.InvalidName, $"A symbolic link is on the way to the log file '{relativeName}'.");
        var segments = relativeName.Split('/');
        var current = jobFolder;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            current = Path.Combine(current, segments[i]);
            if (File.Exists(current))
                throw new LogStoreException(LogStoreFailure.InvalidName, $"The log file name '{relativeName}' needs '{string.Join('/', segments[..(i + 1)])}' to be a folder, and it is a file.");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(jobFolder, relativeName))!);
        if (Directory.Exists(Path.Combine(jobFolder, relativeName)))
            throw new LogStoreException(LogStoreFailure.InvalidName, $"The log file name '{relativeName}' is a folder of the job's logs.");
    }

    private static bool IsLinkPath(string path)
    {
        try
        {
            // readlink(2): null for anything that is not a link, including nothing at all.
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    internal static bool IsLink(FileSystemInfo info) => (info.Attributes & FileAttributes.ReparsePoint) != 0 || info.LinkTarget is not null;

    private static void CheckIds(string workspaceId, string submissionId)
    {
        if (!LogNames.IsId(workspaceId))
            throw new LogStoreException(LogStoreFailure.InvalidName, $"'{Shown(workspaceId)}' is not a workspace id the log store accepts.");
        if (!LogNames.IsId(submissionId))
            throw new LogStoreException(LogStoreFailure.InvalidName, $"'{Shown(submissionId)}' is not a submission id the log store accepts.");
    }

    private static LogStoreException Wrap(Exception e, string what)
    {
        var failure = LogStoreException.Classify(e);
        var why = failure == LogStoreFailure.DiskFull ? "the disk is full" : e.Message;
        return new LogStoreException(failure, $"Log store: {what}: {why}", e);
    }

    private static string Shown(string? text) =>
        text is null ? "" : new string([.. text.Take(200).Select(c => char.IsControl(c) ? '?' : c)]);

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary file is harmless: nothing lists .tmp/, and the next start clears it.
        }
    }

    /// <summary>
    /// Removes what interrupted writes and deletes left in the staging folder, older than <paramref name="olderThan"/>
    /// (never a write in progress); how many entries it removed.
    /// </summary>
    internal int ClearStaleStaging(DateTimeOffset olderThan)
    {
        if (!Directory.Exists(TempFolder)) return 0;
        var removed = 0;
        foreach (var entry in new DirectoryInfo(TempFolder).EnumerateFileSystemInfos())
        {
            if (entry.LastWriteTimeUtc >= olderThan.UtcDateTime) continue;
            try
            {
                if (entry is DirectoryInfo folder) folder.Delete(recursive: true);
                else entry.Delete();
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another sweep's turn.
            }
        }
        return removed;
    }

    public void Dispose() => _gates.Dispose();

    private sealed class JobNodeLogSink(LogStore store, string workspaceId, string submissionId) : INodeLogSink
    {
        public Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken) =>
            store.ReplaceAsync(workspaceId, submissionId, NodesFolder + "/" + relativeName, content, cancellationToken);
    }
}
