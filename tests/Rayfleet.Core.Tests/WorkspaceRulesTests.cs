using Rayfleet.Core.Capacity;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Workspaces;

namespace Rayfleet.Core.Tests;

public sealed class WorkspaceRulesTests
{
    [Theory]
    [InlineData("192.168.0.1")]
    [InlineData("0.0.0.0/0")]
    [InlineData("10.0.0.0/8")]
    [InlineData("172.16.4.0/22")]
    [InlineData("10.1.2.3/32")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:db8::/32")]
    [InlineData("::/0")]
    [InlineData("::ffff:10.0.0.1")]
    public void Addresses_and_CIDR_blocks_are_accepted(string entry) => Assert.Null(WorkspaceRules.WhyNotAddressOrCidr(entry));

    [Theory]
    [InlineData("", "not an IPv4 or IPv6 address")]
    [InlineData(" 10.0.0.1", "not an IPv4 or IPv6 address")]
    [InlineData("10.1", "four decimal numbers")]
    [InlineData("0x0a000001", "four decimal numbers")]
    [InlineData("010.0.0.1", "four decimal numbers")]
    [InlineData("256.0.0.1", "four decimal numbers")]
    [InlineData("example.com", "four decimal numbers")]
    [InlineData("fe80::1%eth0", "not an IPv4 or IPv6 address")]
    [InlineData("2001:db8:::1", "not an IPv4 or IPv6 address")]
    [InlineData("10.0.0.0/33", "prefix length that is not a number from 0 to 32")]
    [InlineData("2001:db8::/129", "from 0 to 128")]
    [InlineData("10.0.0.0/", "prefix length")]
    [InlineData("10.0.0.0/+8", "prefix length")]
    [InlineData("10.0.0.0/8/8", "prefix length")]
    [InlineData("10.0.0.1/8", "first address (10.0.0.0/8)")]
    [InlineData("2001:db8::1/32", "first address (2001:db8::/32)")]
    public void Other_entries_are_refused_saying_why(string entry, string why) =>
        Assert.Contains(why, WorkspaceRules.WhyNotAddressOrCidr(entry), StringComparison.Ordinal);

    [Fact]
    public void Capacity_may_shrink_to_what_is_in_use_but_not_below()
    {
        var inUse = new Resources(8000, 32L << 30, 8m, 1);
        var problems = new List<Problem>();
        WorkspaceRules.CheckCapacityInUse(8, 1, "root_queue", inUse, problems);
        Assert.Empty(problems);
        WorkspaceRules.CheckCapacityInUse(7, 0, "root_queue", inUse, problems);
        Assert.Equal(["cu", "gpu"], problems.Select(p => p.Field));
        Assert.All(problems, p => Assert.Equal(ErrorCodes.InvalidParameter, p.Code));
        Assert.Contains("8 CU", problems[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Payment_terms_read_as_ListWorkspaces_types()
    {
        Assert.Equal((true, 12), (WorkspaceRules.ParseBool("True"), WorkspaceRules.ParsePositiveInt("12")));
        Assert.Null(WorkspaceRules.ParseBool(" true"));
        Assert.Null(WorkspaceRules.ParsePositiveInt("0"));
        Assert.Null(WorkspaceRules.ParsePositiveInt("-1"));
        Assert.Null(WorkspaceRules.ParsePositiveInt("99999999999"));
    }
}
