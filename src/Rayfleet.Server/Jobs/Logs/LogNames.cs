namespace Rayfleet.Server.Jobs.Logs;

/// <summary>
/// The names the log store accepts. Every key is ASCII of a small alphabet, so a key is also a safe file path on any
/// file system, ordinal string order is the byte order object stores list in, and nothing needs escaping in a URL.
/// </summary>
public static class LogNames
{
    public const int MaxKeyLength = 1024;
    public const int MaxSegmentLength = 255;
    public const int MaxDepth = 16;

    /// <summary>A workspace or submission id as a folder name: 1 to 128 of <c>[A-Za-z0-9_-]</c>, starting with a letter or digit.</summary>
    public static bool IsId(string? id) =>
        id is { Length: >= 1 and <= 128 } && char.IsAsciiLetterOrDigit(id[0]) && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>
    /// One path segment: 1 to 255 of <c>[A-Za-z0-9._-+=@,~]</c>, not starting with '.', so never <c>.</c>, <c>..</c> or a
    /// hidden file, and never a separator, a drive, NUL or another control character.
    /// </summary>
    public static bool IsSegment(ReadOnlySpan<char> segment)
    {
        if (segment.Length is < 1 or > MaxSegmentLength || segment[0] == '.') return false;
        foreach (var c in segment)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-' or '+' or '=' or '@' or ',' or '~'))
                return false;
        return true;
    }

    /// <summary>
    /// A file's name inside a job's folder: segments joined by single '/', no leading or trailing '/', at most
    /// <see cref="MaxDepth"/> deep. Null when it is one; otherwise why not.
    /// </summary>
    public static string? Problem(string? relativeName)
    {
        if (string.IsNullOrEmpty(relativeName)) return "is empty";
        if (relativeName.Length > MaxKeyLength - 200) return $"is longer than {MaxKeyLength - 200} characters";
        if (relativeName[0] == '/') return "must be relative (no leading '/')";
        var depth = 0;
        foreach (var range in relativeName.AsSpan().Split('/'))
        {
            if (++depth > MaxDepth) return $"is more than {MaxDepth} folders deep";
            if (!IsSegment(relativeName.AsSpan()[range]))
                return "has a segment that is empty, starts with '.', or has a character other than letters, digits and ._-+=@,~";
        }
        return null;
    }
}
