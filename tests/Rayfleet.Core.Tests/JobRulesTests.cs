using System.Text.Json.Nodes;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Jobs;

namespace Rayfleet.Core.Tests;

public sealed class JobRulesTests
{
    [Fact]
    public void WorkingDir_becomes_the_runtime_envs_working_dir_and_the_entrypoint_resources_are_parsed()
    {
        var (entry, problems) = JobRules.Validate(new SubmitRayJobRequest
        {
            Entrypoint = "python main.py",
            WorkingDir = "/srv/code",
            RuntimeEnvJson = """{"env_vars":{"A":"1"}}""",
            MetadataJson = """{"team":"ml"}""",
            EntrypointNumCpus = "0.5",
            EntrypointMemory = "1Gi",
            EntrypointResources = """{"fpu": 2}""",
        });
        Assert.Empty(problems);
        var env = JsonNode.Parse(entry!.RuntimeEnvJson!)!;
        Assert.Equal("/srv/code", env["working_dir"]!.GetValue<string>());
        Assert.Equal("1", env["env_vars"]!["A"]!.GetValue<string>());
        Assert.Equal("ml", entry.Metadata!["team"]);
        Assert.Equal(0.5, entry.NumCpus);
        Assert.Equal(1L << 30, entry.MemoryBytes);
        Assert.Equal(2.0, entry.Resources!["fpu"]);
    }

    [Fact]
    public void A_working_dir_given_twice_with_different_values_is_refused()
    {
        var (_, problems) = JobRules.Validate(new SubmitRayJobRequest
        {
            Entrypoint = "x", WorkingDir = "/a", RuntimeEnvJson = """{"working_dir":"/b"}""",
        });
        Assert.Contains(problems, p => p.Field == "workingDir");
    }

    [Theory]
    [InlineData("extraParam", """{"entrypoint":"x","extraParam":"not json"}""")]
    [InlineData("clusterId", """{"entrypoint":"x","clusterId":"ray-1","volumeIds":["vol-1"]}""")]
    [InlineData("entrypointNumGpus", """{"entrypoint":"x","entrypointNumGpus":"NaN"}""")]
    [InlineData("name", """{"entrypoint":"x","name":""}""")]
    [InlineData("tags", """{"entrypoint":"x","tags":[{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"},{"key":"a"}]}""")]
    public void Broken_fields_are_named(string field, string body)
    {
        var request = System.Text.Json.JsonSerializer.Deserialize<SubmitRayJobRequest>(body)!;
        var (entry, problems) = JobRules.Validate(request);
        Assert.Null(entry);
        Assert.Contains(problems, p => p.Field == field && p.Message.Contains(field, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("PENDING", false, false, JobStatus.Pending)]
    [InlineData("RUNNING", false, false, JobStatus.Running)]
    [InlineData("RUNNING", true, false, JobStatus.Cancelling)]
    [InlineData("SUCCEEDED", true, false, JobStatus.Succeeded)]
    [InlineData("FAILED", false, false, JobStatus.Failed)]
    [InlineData("STOPPED", true, false, JobStatus.Cancelled)]
    [InlineData("STOPPED", true, true, JobStatus.Timeout)]
    [InlineData("STOPPED", false, false, JobStatus.Cancelled)]
    public void Rays_statuses_map_to_EMRs(string ray, bool stopRequested, bool deadlinePassed, string expected) =>
        Assert.Equal(expected, JobStatus.FromRay(ray, stopRequested, deadlinePassed));
}
