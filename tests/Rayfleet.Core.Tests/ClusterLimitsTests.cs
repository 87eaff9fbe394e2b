using System.Text;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

/// <summary>
/// What one request can make the service hold (README, Limits): every limit is accepted at its value and refused one
/// past it with InvalidParameter naming the field and the limit.
/// </summary>
public class ClusterLimitsTests
{
    private readonly FakeCatalog _catalog = new() { Volumes = [.. Enumerable.Range(0, 40).Select(i => $"vol-{i:D16}")] };

    private void Accepted(RayClusterRequest request)
    {
        var (spec, problems) = ClusterRules.Validate(request, _catalog);
        Assert.True(problems.Count == 0, string.Join("\n", problems.Select(p => p.Message)));
        Assert.NotNull(spec);
    }

    /// <summary>Exactly one problem, InvalidParameter for <paramref name="field"/>, whose message names the field and the limit.</summary>
    private Problem Refused(RayClusterRequest request, string field, int limit)
    {
        var (spec, problems) = ClusterRules.Validate(request, _catalog);
        Assert.Null(spec);
        var problem = Assert.Single(problems);
        Assert.Equal(ErrorCodes.InvalidParameter, problem.Code);
        Assert.Equal(field, problem.Field);
        Assert.Contains($"parameter {field} is not valid", problem.Message, StringComparison.Ordinal);
        Assert.Contains(limit.ToString(System.Globalization.CultureInfo.InvariantCulture), problem.Message, StringComparison.Ordinal);
        return problem;
    }

    private static RayClusterRequest WithHead(Func<HeadSpecDto, HeadSpecDto> change) =>
        Requests.Valid() with { HeadSpec = change(Requests.Head()) };

    private static RayClusterRequest WithWorker(WorkerSpecDto worker, bool autoscaling = false) =>
        Requests.Valid(worker) with { HeadSpec = Requests.Head() with { EnableAutoScaling = autoscaling } };

    private static string Env(int variables, int valueLength = 1) =>
        string.Join("\n", Enumerable.Range(0, variables).Select(i => $"V{i}={new string('x', valueLength)}"));

    // ---- nodes per cluster ----

    [Fact]
    public void A_group_of_1999_workers_makes_2000_nodes_with_the_head_and_is_accepted()
    {
        Accepted(WithWorker(Requests.Worker("g", cpu: "1m", replica: 1999)));
    }

    [Fact]
    public void A_group_of_60000_workers_of_1m_cpu_is_refused_naming_workerSpec_and_2000()
    {
        var (_, problems) = ClusterRules.Validate(WithWorker(Requests.Worker("g", cpu: "1m", replica: 60_000)), _catalog);

        Assert.Contains(problems, p => p.Field == "workerSpec[0].replica" && p.Message.Contains("at most 2000", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Field == "workerSpec" && p.Message.Contains("at most 2000 nodes", StringComparison.Ordinal)
                                       && p.Message.Contains("60001", StringComparison.Ordinal));
    }

    [Fact]
    public void Nodes_are_counted_over_all_groups_with_the_head()
    {
        var groups = Enumerable.Range(0, 4).Select(i => Requests.Worker($"g{i}", replica: 500)).ToArray();

        var p = Refused(Requests.Valid(groups), "workerSpec", ClusterRules.MaxNodesPerCluster);

        Assert.Contains("2001", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_autoscaling_max_replica_counts_towards_the_nodes_of_the_cluster()
    {
        var worker = Requests.Worker("g", replica: 1) with { MinReplica = 1, MaxReplica = 2000 };

        Accepted(WithWorker(worker, autoscaling: false));
        Refused(WithWorker(worker, autoscaling: true), "workerSpec", ClusterRules.MaxNodesPerCluster);
    }

    [Theory]
    [InlineData("minReplica")]
    [InlineData("maxReplica")]
    public void A_replica_bound_above_2000_is_refused_naming_it(string field)
    {
        var worker = field == "minReplica"
            ? Requests.Worker("g", replica: 1) with { MinReplica = 2001, MaxReplica = 2001 }
            : Requests.Worker("g", replica: 1) with { MaxReplica = 2001 };

        var (_, problems) = ClusterRules.Validate(WithWorker(worker), _catalog);

        Assert.Contains(problems, p => p.Field == $"workerSpec[0].{field}" && p.Message.Contains("at most 2000", StringComparison.Ordinal));
    }

    // ---- env ----

    [Fact]
    public void Env_of_64_variables_is_accepted_and_65_refused()
    {
        Accepted(WithHead(h => h with { Env = Env(64) }));
        Refused(WithHead(h => h with { Env = Env(65) }), "headSpec.env", ClusterRules.MaxEnvVariables);
    }

    [Fact]
    public void Env_value_of_4096_characters_is_accepted_and_4097_refused()
    {
        Accepted(WithHead(h => h with { Env = "A=" + new string('v', 4096) }));
        Refused(WithHead(h => h with { Env = "A=" + new string('v', 4097) }), "headSpec.env", ClusterRules.MaxEnvValueLength);
    }

    [Fact]
    public void Env_name_of_128_characters_is_accepted_and_129_refused()
    {
        Accepted(WithHead(h => h with { Env = new string('N', 128) + "=1" }));
        Refused(WithHead(h => h with { Env = new string('N', 129) + "=1" }), "headSpec.env", ClusterRules.MaxEnvNameLength);
    }

    [Fact]
    public void Env_of_more_than_8192_characters_is_refused_naming_the_group()
    {
        var env = Env(3, valueLength: 4000);
        Assert.True(env.Length > ClusterRules.MaxEnvLength);

        Refused(Requests.Valid(Requests.Worker() with { Env = env }), "workerSpec[0].env", ClusterRules.MaxEnvLength);
    }

    // ---- rayStartParams ----

    [Fact]
    public void Ray_start_params_of_32_flags_are_accepted_and_33_refused()
    {
        string Flags(int n) => string.Join(" ", Enumerable.Range(0, n).Select(i => $"--f{i}=1"));

        Accepted(WithHead(h => h with { RayStartParams = Flags(32) }));
        Refused(WithHead(h => h with { RayStartParams = Flags(33) }), "headSpec.rayStartParams", ClusterRules.MaxRayStartParams);
    }

    [Fact]
    public void Ray_start_params_of_2048_characters_are_accepted_and_2049_refused()
    {
        Accepted(WithHead(h => h with { RayStartParams = "--f=" + new string('v', 2044) }));
        Refused(Requests.Valid(Requests.Worker() with { RayStartParams = "--f=" + new string('v', 2045) }),
            "workerSpec[0].rayStartParams", ClusterRules.MaxRayStartParamsLength);
    }

    [Fact]
    public void Env_and_ray_start_params_of_all_groups_together_are_bounded()
    {
        // Each group within its own limits; 9 groups of 8,000 characters pass 64 KiB together.
        var groups = Enumerable.Range(0, 9).Select(i => Requests.Worker($"g{i}") with { Env = "A=" + new string('v', 3998) + "\nB=" + new string('v', 3997) }).ToArray();
        Assert.All(groups, g => Assert.Equal(8000, g.Env!.Length));

        Accepted(Requests.Valid(groups[..8]));
        var p = Refused(Requests.Valid(groups), "workerSpec", ClusterRules.MaxClusterSettingsLength);
        Assert.Contains("72000", p.Message, StringComparison.Ordinal);
    }

    // ---- extraParam ----

    [Fact]
    public void Extra_param_of_16384_bytes_is_accepted_and_16385_refused()
    {
        string Of(int bytes) => "{\"k\":\"" + new string('x', bytes - 8) + "\"}";
        Assert.Equal(16384, Encoding.UTF8.GetByteCount(Of(16384)));

        Accepted(Requests.Valid() with { ExtraParam = Of(16384) });
        Refused(Requests.Valid() with { ExtraParam = Of(16385) }, "extraParam", ClusterRules.MaxExtraParamBytes);
    }

    [Fact]
    public void Extra_param_bytes_are_counted_in_utf8_not_characters()
    {
        var extra = "{\"k\":\"" + new string('é', 8200) + "\"}";
        Assert.True(extra.Length < ClusterRules.MaxExtraParamBytes);

        Refused(Requests.Valid() with { ExtraParam = extra }, "extraParam", ClusterRules.MaxExtraParamBytes);
    }

    [Fact]
    public void Extra_param_nested_32_deep_is_accepted_and_33_refused()
    {
        static string Nested(int depth) => new string('[', depth) + new string(']', depth);

        Accepted(Requests.Valid() with { ExtraParam = Nested(32) });
        Refused(Requests.Valid() with { ExtraParam = Nested(33) }, "extraParam", ClusterRules.MaxExtraParamDepth);
    }

    // ---- volumes and GCS fault tolerance ----

    [Fact]
    public void Thirty_two_volumes_are_accepted_and_33_refused_without_looking_at_the_rest()
    {
        var ids = Enumerable.Range(0, 40).Select(i => (string?)$"vol-{i:D16}").ToList();

        Accepted(Requests.Valid() with { VolumeIds = ids[..32] });
        // The 33rd and later would be valid, and missing ones past the limit are not reported one by one.
        Refused(Requests.Valid() with { VolumeIds = [.. ids[..32], .. Enumerable.Repeat<string?>("vol-missing", 1000)] },
            "volumeIds", ClusterRules.MaxVolumes);
    }

    [Theory]
    [InlineData("redisUrl", 1024)]
    [InlineData("redisUsername", 256)]
    [InlineData("redisPassword", 1024)]
    public void Gcs_fault_tolerance_settings_are_bounded(string field, int limit)
    {
        GftConfigDto Config(int length)
        {
            var value = new string('r', length);
            return field switch
            {
                "redisUrl" => new GftConfigDto { RedisUrl = value },
                "redisUsername" => new GftConfigDto { RedisUrl = "redis://r:6379", RedisUsername = value },
                _ => new GftConfigDto { RedisUrl = "redis://r:6379", RedisPassword = value },
            };
        }

        Accepted(WithHead(h => h with { GftEnabled = true, GftConfig = Config(limit) }));
        Refused(WithHead(h => h with { GftEnabled = true, GftConfig = Config(limit + 1) }), $"headSpec.gftConfig.{field}", limit);
    }

    // ---- bounded answers ----

    [Fact]
    public void Past_50_worker_groups_the_groups_are_not_validated_one_by_one()
    {
        var groups = Enumerable.Range(0, 10_000).Select(i => (WorkerSpecDto?)new WorkerSpecDto { GroupName = "!" }).ToList();

        var (_, problems) = ClusterRules.Validate(Requests.Valid() with { WorkerSpec = groups }, _catalog);

        Assert.Contains(problems, p => p.Field == "workerSpec" && p.Message.Contains("at most 50 worker groups", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.Field.StartsWith("workerSpec[50]", StringComparison.Ordinal));
    }

    [Fact]
    public void A_message_quotes_at_most_64_characters_of_a_value()
    {
        var huge = new string('z', 500_000);

        var (_, problems) = ClusterRules.Validate(WithHead(h => h with { Cpu = huge }), _catalog);

        var p = Assert.Single(problems);
        Assert.Equal("headSpec.cpu", p.Field);
        Assert.True(p.Message.Length < 300, $"{p.Message.Length} characters");
        Assert.Contains("500000 characters", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_broken_limit_is_reported_at_once()
    {
        var request = Requests.Valid(Requests.Worker("g", replica: 5000) with { RayStartParams = string.Join(" ", Enumerable.Repeat("--f", 33)) }) with
        {
            ExtraParam = "{\"simulated\":{\"startDelaySeconds\":1e12,\"failOnStart\":1}}",
            HeadSpec = Requests.Head() with { Env = Env(65), GftConfig = new GftConfigDto { RedisUsername = new string('u', 257) } },
        };

        var (_, problems) = ClusterRules.Validate(request, _catalog);

        Assert.Equal(
            new[]
            {
                "extraParam.simulated.startDelaySeconds",
                "extraParam.simulated.failOnStart",
                "headSpec.env",
                "headSpec.gftConfig.redisUsername",
                "workerSpec[0].replica",
                "workerSpec[0].rayStartParams",
                "workerSpec",
            },
            problems.Select(p => p.Field).ToArray());
        Assert.All(problems, p => Assert.Equal(ErrorCodes.InvalidParameter, p.Code));
    }
}
