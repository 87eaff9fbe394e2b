using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

/// <summary>
/// The job knobs of the <c>simulated</c> section and the cluster knobs added for jobs: checked on a job's extraParam
/// through <see cref="SimulatedJobBehaviour.Check"/>, on a cluster's through ClusterRules, read back the same way.
/// </summary>
public class SimulatedJobBehaviourTests
{
    private readonly FakeCatalog _catalog = new();

    private static List<Problem> JobProblems(string? extraParam)
    {
        var problems = new List<Problem>();
        SimulatedJobBehaviour.Check(extraParam, problems);
        return problems;
    }

    private IReadOnlyList<Problem> ClusterProblems(string extraParam) =>
        ClusterRules.Validate(Requests.Valid() with { ExtraParam = extraParam }, _catalog).Problems;

    [Theory]
    [InlineData("runSeconds", "-1")]
    [InlineData("runSeconds", "86400.5")]
    [InlineData("runSeconds", "\"2\"")]
    [InlineData("pendingSeconds", "1e12")]
    [InlineData("pendingSeconds", "null")]
    [InlineData("agentDelaySeconds", "-0.5")]
    public void An_out_of_range_or_mistyped_number_of_seconds_is_refused_naming_the_knob(string knob, string value)
    {
        var problem = Assert.Single(JobProblems($$$"""{"simulated":{"{{{knob}}}":{{{value}}}}}"""));

        Assert.Equal(ErrorCodes.InvalidParameter, problem.Code);
        Assert.Equal($"extraParam.simulated.{knob}", problem.Field);
        Assert.Contains("from 0 to 86400", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("256")]
    [InlineData("1.5")]
    [InlineData("\"3\"")]
    [InlineData("true")]
    public void An_exit_code_must_be_a_whole_number_from_0_to_255(string value)
    {
        var problem = Assert.Single(JobProblems($$$"""{"simulated":{"exitCode":{{{value}}}}}"""));

        Assert.Equal("extraParam.simulated.exitCode", problem.Field);
        Assert.Contains("whole number from 0 to 255", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Driver_connected_must_be_a_boolean()
    {
        Assert.Equal("extraParam.simulated.driverConnected", Assert.Single(JobProblems("""{"simulated":{"driverConnected":1}}""")).Field);
    }

    [Fact]
    public void A_misspelt_job_knob_is_refused_naming_the_job_knobs()
    {
        var problem = Assert.Single(JobProblems("""{"simulated":{"runSecs":2}}"""));

        Assert.Equal("extraParam.simulated.runSecs", problem.Field);
        Assert.Contains("runSeconds", problem.Message, StringComparison.Ordinal);
        Assert.Contains("exitCode", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_jobs_extra_param_that_is_not_json_is_refused_as_a_clusters_is()
    {
        Assert.Equal("extraParam", Assert.Single(JobProblems("{not json")).Field);
        Assert.Equal("extraParam", Assert.Single(JobProblems(new string(' ', ClusterRules.MaxExtraParamBytes + 1))).Field);
        Assert.Empty(JobProblems(null));
        Assert.Empty(JobProblems("""{"userDefinedFiles":"oss://b/x.json"}"""));
    }

    [Fact]
    public void Every_broken_knob_of_a_job_is_reported_at_once()
    {
        var problems = JobProblems("""{"simulated":{"runSeconds":-1,"exitCode":300,"pendingSeconds":"x","startDelaySeconds":-1}}""");

        Assert.Equal(
            ["extraParam.simulated.runSeconds", "extraParam.simulated.exitCode", "extraParam.simulated.pendingSeconds", "extraParam.simulated.startDelaySeconds"],
            problems.Select(p => p.Field).ToArray());
    }

    [Fact]
    public void Job_knobs_at_their_bounds_are_accepted_and_read_back()
    {
        const string extra = """{"simulated":{"pendingSeconds":0,"runSeconds":86400,"exitCode":255},"other":1}""";

        Assert.Empty(JobProblems(extra));
        var job = SimulatedJobBehaviour.From(extra);

        Assert.Equal((0d, 86400d, 255), (job.PendingSeconds, job.RunSeconds, job.ExitCode));
    }

    [Fact]
    public void A_job_may_carry_cluster_knobs_for_its_job_mode_cluster_and_a_cluster_job_knobs_for_its_jobs()
    {
        const string extra = """{"simulated":{"startDelaySeconds":1,"driverConnected":true,"agentDelaySeconds":2.5,"runSeconds":3,"exitCode":1}}""";

        Assert.Empty(JobProblems(extra));
        Assert.Empty(ClusterProblems(extra));
        var cluster = SimulatedBehaviour.From(extra);
        Assert.Equal((1d, true, 2.5), (cluster.StartDelaySeconds, cluster.DriverConnected, cluster.AgentDelaySeconds));
        Assert.Equal(new SimulatedJobBehaviour { RunSeconds = 3, ExitCode = 1 }, cluster.Job);
        Assert.Equal(cluster.Job, SimulatedJobBehaviour.From(extra));
    }

    [Fact]
    public void A_clusters_broken_job_knob_is_refused_too()
    {
        Assert.Equal("extraParam.simulated.exitCode", Assert.Single(ClusterProblems("""{"simulated":{"exitCode":-3}}""")).Field);
    }

    [Fact]
    public void A_jobs_own_knobs_win_over_its_clusters()
    {
        var job = new SimulatedJobBehaviour { RunSeconds = 1 };
        var cluster = new SimulatedJobBehaviour { RunSeconds = 10, PendingSeconds = 2, ExitCode = 4 };

        Assert.Equal(new SimulatedJobBehaviour { RunSeconds = 1, PendingSeconds = 2, ExitCode = 4 }, job.Or(cluster));
        Assert.Equal(cluster, SimulatedJobBehaviour.None.Or(cluster));
    }

    [Fact]
    public void A_stored_job_with_a_broken_knob_keeps_the_default_for_it()
    {
        var job = SimulatedJobBehaviour.From("""{"simulated":{"runSeconds":1e12,"exitCode":2}}""");

        Assert.Null(job.RunSeconds);
        Assert.Equal(2, job.ExitCode);
        Assert.Same(SimulatedJobBehaviour.None, SimulatedJobBehaviour.From("not json"));
    }
}
