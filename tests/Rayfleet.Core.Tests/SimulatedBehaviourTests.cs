using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Tests;

/// <summary>The <c>simulated</c> section of extraParam: validated like every other field, read back the same way.</summary>
public class SimulatedBehaviourTests
{
    private readonly FakeCatalog _catalog = new();

    private IReadOnlyList<Problem> Problems(string extraParam) =>
        ClusterRules.Validate(Requests.Valid() with { ExtraParam = extraParam }, _catalog).Problems;

    [Theory]
    [InlineData("startDelaySeconds", "1e12")]
    [InlineData("startDelaySeconds", "1e300")]
    [InlineData("startDelaySeconds", "-1")]
    [InlineData("startDelaySeconds", "86400.5")]
    [InlineData("startDelaySeconds", "\"5\"")]
    [InlineData("startDelaySeconds", "null")]
    [InlineData("failAfterSeconds", "1e12")]
    [InlineData("failAfterSeconds", "-0.001")]
    [InlineData("failAfterSeconds", "true")]
    public void An_out_of_range_or_mistyped_number_of_seconds_is_refused_naming_the_knob_and_the_range(string knob, string value)
    {
        var problem = Assert.Single(Problems($$$"""{"simulated":{"{{{knob}}}":{{{value}}}}}"""));

        Assert.Equal(ErrorCodes.InvalidParameter, problem.Code);
        Assert.Equal($"extraParam.simulated.{knob}", problem.Field);
        Assert.Contains($"extraParam.simulated.{knob}", problem.Message, StringComparison.Ordinal);
        Assert.Contains("from 0 to 86400", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("\"true\"")]
    [InlineData("null")]
    public void Fail_on_start_must_be_a_boolean(string value)
    {
        var problem = Assert.Single(Problems($$$"""{"simulated":{"failOnStart":{{{value}}}}}"""));

        Assert.Equal("extraParam.simulated.failOnStart", problem.Field);
    }

    [Theory]
    [InlineData("""{"g":-1}""", "extraParam.simulated.busyWorkers.g")]
    [InlineData("""{"g":2001}""", "extraParam.simulated.busyWorkers.g")]
    [InlineData("""{"g":1.5}""", "extraParam.simulated.busyWorkers.g")]
    [InlineData("""{"g":"4"}""", "extraParam.simulated.busyWorkers.g")]
    [InlineData("[4]", "extraParam.simulated.busyWorkers")]
    public void Busy_workers_must_map_group_names_to_counts_within_the_cluster_limit(string value, string field)
    {
        var problem = Assert.Single(Problems($$$"""{"simulated":{"busyWorkers":{{{value}}}}}"""));

        Assert.Equal(field, problem.Field);
    }

    [Fact]
    public void A_misspelt_knob_is_refused_instead_of_ignored()
    {
        var problem = Assert.Single(Problems("""{"simulated":{"startDelay":5}}"""));

        Assert.Equal("extraParam.simulated.startDelay", problem.Field);
        Assert.Contains("startDelaySeconds", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_simulated_section_that_is_not_an_object_is_refused()
    {
        Assert.Equal("extraParam.simulated", Assert.Single(Problems("""{"simulated":5}""")).Field);
    }

    [Fact]
    public void Every_broken_knob_is_reported_at_once()
    {
        var problems = Problems("""{"simulated":{"startDelaySeconds":1e12,"failOnStart":"yes","failAfterSeconds":-1,"busyWorkers":{"a":-1,"b":1e9}}}""");

        Assert.Equal(
            ["extraParam.simulated.startDelaySeconds", "extraParam.simulated.failOnStart", "extraParam.simulated.failAfterSeconds",
             "extraParam.simulated.busyWorkers.a", "extraParam.simulated.busyWorkers.b"],
            problems.Select(p => p.Field).ToArray());
    }

    [Fact]
    public void Valid_knobs_at_their_bounds_are_accepted_and_read_back_by_the_provider_side()
    {
        const string extra = """{"simulated":{"startDelaySeconds":86400,"failOnStart":true,"failAfterSeconds":0,"busyWorkers":{"g":2000}},"other":1}""";

        Assert.Empty(Problems(extra));
        var behaviour = SimulatedBehaviour.From(extra);

        Assert.Equal(86400, behaviour.StartDelaySeconds);
        Assert.True(behaviour.FailOnStart);
        Assert.Equal(0, behaviour.FailAfterSeconds);
        Assert.Equal(2000, behaviour.BusyWorkers["g"]);
    }

    [Fact]
    public void Extra_param_without_a_simulated_section_is_not_the_simulated_providers_business()
    {
        Assert.Empty(Problems("""{"startDelaySeconds":1e12,"simulatedX":{"a":1}}"""));
        Assert.Same(SimulatedBehaviour.None, SimulatedBehaviour.From("""{"startDelaySeconds":1e12}"""));
        Assert.Same(SimulatedBehaviour.None, SimulatedBehaviour.From("[1]"));
        Assert.Same(SimulatedBehaviour.None, SimulatedBehaviour.From("not json"));
    }

    [Fact]
    public void A_stored_spec_from_before_the_rules_keeps_the_defaults_for_its_broken_knobs()
    {
        // Stored before validation existed: the provider must neither overflow on it nor trust it.
        var behaviour = SimulatedBehaviour.From("""{"simulated":{"startDelaySeconds":1e12,"failAfterSeconds":30,"busyWorkers":{"g":-5,"h":2}}}""");

        Assert.Null(behaviour.StartDelaySeconds);
        Assert.Equal(30, behaviour.FailAfterSeconds);
        Assert.False(behaviour.BusyWorkers.ContainsKey("g"));
        Assert.Equal(2, behaviour.BusyWorkers["h"]);
    }
}
