namespace Rayfleet.Server.Api;

/// <summary>
/// Which rows of a newest-first list a page holds, read from the nearer end of an index that serves the order: a page
/// past the middle is read oldest first with the mirrored offset (and then put newest first), so the last page skips
/// as few index entries as the first.
/// </summary>
/// <param name="OldestFirst">Read in ascending order; the rows come back oldest first.</param>
/// <param name="Skip">Rows skipped in that order.</param>
/// <param name="Take">Rows the page holds: 0 past the end.</param>
public readonly record struct ListPage(bool OldestFirst, int Skip, int Take)
{
    public static ListPage Of(long total, int pageNum, int pageSize)
    {
        var offset = (long)(pageNum - 1) * pageSize;
        if (offset >= total) return new ListPage(false, 0, 0);
        var take = (int)Math.Min(pageSize, total - offset);
        var mirrored = total - offset - take;
        return mirrored < offset ? new ListPage(true, (int)mirrored, take) : new ListPage(false, (int)offset, take);
    }
}
