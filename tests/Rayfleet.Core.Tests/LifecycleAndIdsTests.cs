using System.Text.RegularExpressions;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Tests;

public class LifecycleTests
{
    [Fact]
    public void State_names_are_the_wire_values()
    {
        Assert.Equal(["Starting", "Running", "Stopping", "Stopped", "Error"],
            new[] { ClusterState.Starting, ClusterState.Running, ClusterState.Stopping, ClusterState.Stopped, ClusterState.Error });
    }

    [Theory]
    [InlineData("Stopped", LifecycleVerdict.Proceed)]
    [InlineData("Error", LifecycleVerdict.Proceed)]
    [InlineData("Starting", LifecycleVerdict.NoChange)]
    [InlineData("Running", LifecycleVerdict.NoChange)]
    [InlineData("Stopping", LifecycleVerdict.Denied)]
    public void Start_follows_the_lifecycle_table(string state, LifecycleVerdict expected)
    {
        Assert.Equal(expected, Lifecycle.Start(state));
    }

    [Theory]
    [InlineData("Starting", LifecycleVerdict.Proceed)]
    [InlineData("Running", LifecycleVerdict.Proceed)]
    [InlineData("Error", LifecycleVerdict.Proceed)]
    [InlineData("Stopping", LifecycleVerdict.NoChange)]
    [InlineData("Stopped", LifecycleVerdict.NoChange)]
    public void Stop_follows_the_lifecycle_table(string state, LifecycleVerdict expected)
    {
        Assert.Equal(expected, Lifecycle.Stop(state));
    }

    [Theory]
    [InlineData("Starting", LifecycleVerdict.Proceed)]
    [InlineData("Running", LifecycleVerdict.Proceed)]
    [InlineData("Stopped", LifecycleVerdict.Proceed)]
    [InlineData("Error", LifecycleVerdict.Proceed)]
    [InlineData("Stopping", LifecycleVerdict.Denied)]
    public void Update_is_allowed_in_every_state_but_stopping(string state, LifecycleVerdict expected)
    {
        Assert.Equal(expected, Lifecycle.Update(state));
    }

    [Fact]
    public void Start_of_an_unknown_state_is_denied()
    {
        Assert.Equal(LifecycleVerdict.Denied, Lifecycle.Start("running"));
    }
}

public class IdsTests
{
    private const int Samples = 200;

    private static void AllMatch(Func<string> next, string pattern)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < Samples; i++)
        {
            var id = next();
            Assert.Matches(pattern, id);
            seen.Add(id);
        }
        Assert.Equal(Samples, seen.Count);
    }

    [Fact]
    public void Workspace_ids_are_w_and_16_lowercase_hex()
    {
        AllMatch(Ids.Workspace, @"^w-[0-9a-f]{16}\z");
    }

    [Fact]
    public void Cluster_ids_are_ray_and_16_lowercase_alphanumerics()
    {
        AllMatch(Ids.Cluster, @"^ray-[a-z0-9]{16}\z");
    }

    [Fact]
    public void Cluster_and_job_ids_sort_in_the_order_they_were_made_and_never_repeat()
    {
        foreach (var make in new Func<string>[] { Ids.Cluster, Ids.Job })
        {
            var ids = Enumerable.Range(0, 5000).Select(_ => make()).ToList();
            Assert.Equal(ids, ids.Order(StringComparer.Ordinal));
            Assert.Equal(ids.Count, ids.Distinct().Count());
            // The random half differs between ids made in one go.
            Assert.True(ids.Select(id => id[^8..]).Distinct().Count() > 4990);
        }
        // The time half counts milliseconds since 2020: an id made now reads as a date within the last hour or so
        // (the count runs ahead of the clock only while ids are made faster than one per millisecond).
        var id = Ids.Cluster()["ray-".Length..][..8];
        var ms = id.Aggregate(0L, (n, c) => n * 36 + (char.IsDigit(c) ? c - '0' : c - 'a' + 10));
        var made = DateTimeOffset.FromUnixTimeMilliseconds(1_577_836_800_000 + ms);
        Assert.InRange(made, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1));
    }

    [Fact]
    public void Instance_ids_are_the_cluster_id_and_8_alphanumerics()
    {
        const string cluster = "ray-abcdefgh12345678";
        AllMatch(() => Ids.Instance(cluster), @"^ray-abcdefgh12345678-[a-z0-9]{8}\z");
    }

    [Fact]
    public void Head_node_ids_are_the_cluster_id_head_and_5_alphanumerics()
    {
        AllMatch(() => Ids.HeadNode("ray-0000000000000000"), @"^ray-0000000000000000-head-[a-z0-9]{5}\z");
    }

    [Fact]
    public void Worker_node_ids_use_the_lower_case_group_name_and_5_alphanumerics()
    {
        var id = Ids.WorkerNode("ray-0000000000000000", "WorkerGroup1");

        Assert.Matches(@"^ray-0000000000000000-workergroup1-[a-z0-9]{5}\z", id);
    }

    [Fact]
    public void Network_service_ids_are_ns_and_16_lowercase_hex()
    {
        AllMatch(Ids.NetworkService, @"^ns-[0-9a-f]{16}\z");
    }

    [Fact]
    public void Volume_ids_are_vol_and_16_lowercase_hex()
    {
        AllMatch(Ids.Volume, @"^vol-[0-9a-f]{16}\z");
    }

    [Fact]
    public void Operation_ids_are_op_and_16_lowercase_hex()
    {
        AllMatch(Ids.Operation, @"^op-[0-9a-f]{16}\z");
    }

    [Fact]
    public void Request_ids_are_uppercase_uuids()
    {
        AllMatch(Ids.Request, @"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\z");
        Assert.True(Guid.TryParse(Ids.Request(), out _));
    }

    [Fact]
    public void Submit_tokens_are_32_lowercase_hex()
    {
        AllMatch(Ids.SubmitToken, @"^[0-9a-f]{32}\z");
    }

    [Fact]
    public void Cluster_ids_use_more_than_hex_digits_over_many_samples()
    {
        // 16 of [a-z0-9]: over a few hundred ids, letters beyond 'f' must show up.
        var all = string.Concat(Enumerable.Range(0, Samples).Select(_ => Ids.Cluster()[4..]));

        Assert.Matches("[g-z]", all);
        Assert.Matches("[0-9]", all);
    }
}
