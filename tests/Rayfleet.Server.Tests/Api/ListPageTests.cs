using Rayfleet.Server.Api;

namespace Rayfleet.Server.Tests.Api;

public sealed class ListPageTests
{
    /// <summary>Row i of the newest-first order is row total-1-i of the oldest-first order.</summary>
    private static List<long> NewestFirstRows(long total, ListPage page) =>
        page.OldestFirst
            ? [.. Enumerable.Range(page.Skip, page.Take).Select(i => total - 1 - i).Reverse()]
            : [.. Enumerable.Range(page.Skip, page.Take).Select(i => (long)i)];

    [Fact]
    public void Every_page_holds_the_rows_of_the_newest_first_order_whichever_end_it_is_read_from()
    {
        for (var total = 0; total <= 12; total++)
        for (var pageSize = 1; pageSize <= 5; pageSize++)
        for (var pageNum = 1; pageNum <= 15; pageNum++)
        {
            var page = ListPage.Of(total, pageNum, pageSize);
            var offset = (pageNum - 1) * pageSize;
            List<long> expected = [.. Enumerable.Range(offset, Math.Max(0, Math.Min(pageSize, total - offset))).Select(i => (long)i)];
            Assert.Equal(expected, NewestFirstRows(total, page));
        }
    }

    [Fact]
    public void The_last_page_skips_as_few_rows_as_the_first()
    {
        var first = ListPage.Of(100_000, 1, 20);
        var last = ListPage.Of(100_000, 5_000, 20);
        Assert.Equal(new ListPage(false, 0, 20), first);
        Assert.Equal(new ListPage(true, 0, 20), last);
        // A short last page: 100,001 rows, the 5,001st page holds the oldest one.
        Assert.Equal(new ListPage(true, 0, 1), ListPage.Of(100_001, 5_001, 20));
        // Past the end, nothing is read; a page number too large for an int offset is past the end too.
        Assert.Equal(0, ListPage.Of(10, 3, 5).Take);
        Assert.Equal(0, ListPage.Of(10, int.MaxValue, 100).Take);
    }
}
