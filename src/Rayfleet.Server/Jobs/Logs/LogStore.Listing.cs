namespace Rayfleet.Server.Jobs.Logs;

/// <summary>One entry of a listing: a file, or (with a delimiter) a folder as an object-store common prefix.</summary>
public sealed record LogEntry(string Key, bool IsDir, long Size, DateTimeOffset Modified)
{
    /// <summary>The last segment, without a folder's trailing '/'.</summary>
    public string Name => Key.TrimEnd('/')[(Key.TrimEnd('/').LastIndexOf('/') + 1)..];
}

/// <summary>One page of a listing; <see cref="NextMarker"/> is the last entry's key when there is more.</summary>
public sealed record LogPage(IReadOnlyList<LogEntry> Entries, bool IsTruncated, string? NextMarker);

public sealed partial class LogStore
{
    private static readonly EnumerationOptions OneFolder = new()
    {
        IgnoreInaccessible = true,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
        AttributesToSkip = FileAttributes.ReparsePoint,
    };

    /// <summary>
    /// Lists the job's keys with object-store (OSS ListObjects) semantics: keys that start with
    /// <paramref name="prefixKey"/> (which must lie in the job's folder), in ordinal order, after
    /// <paramref name="marker"/> (exclusive); with <paramref name="delimited"/>, each folder directly below the prefix
    /// is one entry (its key ends with '/') instead of the files in it. At most <paramref name="maxKeys"/> entries.
    /// </summary>
    /// <remarks>
    /// Memory is bounded by <paramref name="maxKeys"/> whatever the folders hold: each folder is read as a stream,
    /// keeping only the smallest names still needed (a bounded heap), and folders wholly before the marker are never
    /// opened. Time is the folders read on the way to the entries returned, each read once per page (again when empty
    /// folders use up a batch).
    /// </remarks>
    public LogPage List(string workspaceId, string submissionId, string prefixKey, bool delimited, string? marker, int maxKeys)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        var jobPrefix = JobPrefix(workspaceId, submissionId);
        if (!prefixKey.StartsWith(jobPrefix, StringComparison.Ordinal))
            throw new LogStoreException(LogStoreFailure.InvalidName, $"The prefix must lie inside the job's folder {jobPrefix}.");
        var rest = prefixKey[jobPrefix.Length..];
        var slash = rest.LastIndexOf('/');
        var folderName = slash < 0 ? "" : rest[..slash];
        if (folderName.Length > 0 && LogNames.Problem(folderName) is { } problem)
            throw new LogStoreException(LogStoreFailure.InvalidName, $"The prefix's folder '{folderName}' {problem}.");

        var jobFolder = JobFolder(workspaceId, submissionId);
        var output = new List<LogEntry>();
        try
        {
            var folder = folderName.Length == 0 ? jobFolder : Path.Combine(jobFolder, folderName);
            var clean = folderName.Length == 0 ? !IsLinkPath(jobFolder) : CheckNoLinks(jobFolder, folderName, includeLast: true);
            if (clean && Directory.Exists(folder))
            {
                var depth = folderName.Length == 0 ? 0 : folderName.Count(c => c == '/') + 1;
                Collect(new DirectoryInfo(folder), jobPrefix + (folderName.Length == 0 ? "" : folderName + "/"), rest[(slash + 1)..],
                    marker, delimited, depth, maxKeys + 1, output);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Wrap(e, $"cannot list {prefixKey}");
        }
        var truncated = output.Count > maxKeys;
        if (truncated) output.RemoveAt(output.Count - 1);
        return new LogPage(output, truncated, truncated ? output[^1].Key : null);
    }

    /// <summary>Adds the folder's entries in key order until <paramref name="needed"/> are there.</summary>
    private static void Collect(
        DirectoryInfo folder, string folderKey, string namePrefix, string? marker, bool delimited, int depth, int needed, List<LogEntry> output)
    {
        string? after = null;
        while (output.Count < needed)
        {
            var want = needed - output.Count;
            var batch = SmallestChildren(folder, folderKey, namePrefix, marker, delimited, depth, after, want);
            foreach (var (sortName, child) in batch)
            {
                if (child is FileInfo file)
                    output.Add(new LogEntry(folderKey + sortName, false, file.Length, new DateTimeOffset(file.LastWriteTimeUtc)));
                else if (delimited)
                    output.Add(new LogEntry(folderKey + sortName, true, 0, new DateTimeOffset(child.LastWriteTimeUtc)));
                else
                    Collect((DirectoryInfo)child, folderKey + sortName, "", marker, false, depth + 1, needed, output);
                if (output.Count >= needed) return;
            }
            // Fewer than asked for: the folder has no more. Otherwise empty folders used up the batch: read on after it.
            if (batch.Count < want) return;
            after = batch[^1].SortName;
        }
    }

    /// <summary>
    /// The folder's first <paramref name="count"/> children in key order (a folder's sort name ends with '/', which is
    /// where its keys sort) that can hold entries after <paramref name="marker"/>, with sort names after
    /// <paramref name="after"/>; read as a stream into a bounded heap.
    /// </summary>
    private static List<(string SortName, FileSystemInfo Info)> SmallestChildren(
        DirectoryInfo folder, string folderKey, string namePrefix, string? marker, bool delimited, int depth, string? after, int count)
    {
        // A max-heap of the smallest names so far: the root is the first to give way to a smaller one.
        var heap = new PriorityQueue<(string SortName, FileSystemInfo Info), string>(Comparer<string>.Create((a, b) => string.CompareOrdinal(b, a)));
        foreach (var child in folder.EnumerateFileSystemInfos("*", OneFolder))
        {
            var name = child.Name;
            if (!name.StartsWith(namePrefix, StringComparison.Ordinal) || !LogNames.IsSegment(name) || IsLink(child)) continue;
            var isFolder = child is DirectoryInfo;
            if (isFolder && depth + 1 >= LogNames.MaxDepth) continue;
            var sortName = isFolder ? name + "/" : name;
            if (after is not null && string.CompareOrdinal(sortName, after) <= 0) continue;
            if (marker is not null)
            {
                var key = folderKey + sortName;
                // A folder walked into can hold keys after the marker when the marker lies inside it.
                var holdsLater = string.CompareOrdinal(key, marker) > 0
                                 || (isFolder && !delimited && marker.StartsWith(key, StringComparison.Ordinal));
                if (!holdsLater) continue;
            }
            if (heap.Count == count && string.CompareOrdinal(sortName, heap.Peek().SortName) >= 0) continue;
            // Only a folder that would make the cut is searched for a file: a folder of nothing is no entry.
            if (isFolder && delimited && !HoldsAFile((DirectoryInfo)child, depth + 1)) continue;
            if (heap.Count == count) heap.DequeueEnqueue((sortName, child), sortName);
            else heap.Enqueue((sortName, child), sortName);
        }
        var items = new List<(string SortName, FileSystemInfo Info)>(heap.Count);
        while (heap.Count > 0) items.Add(heap.Dequeue());
        items.Reverse();
        return items;
    }

    /// <summary>Whether a listing below the folder would show any file (stops at the first).</summary>
    private static bool HoldsAFile(DirectoryInfo folder, int depth)
    {
        foreach (var child in folder.EnumerateFileSystemInfos("*", OneFolder))
        {
            if (!LogNames.IsSegment(child.Name) || IsLink(child)) continue;
            if (child is FileInfo) return true;
            if (depth + 1 < LogNames.MaxDepth && HoldsAFile((DirectoryInfo)child, depth + 1)) return true;
        }
        return false;
    }
}
