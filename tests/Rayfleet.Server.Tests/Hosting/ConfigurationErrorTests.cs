using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Tests.Hosting;

public sealed class ConfigurationErrorTests
{
    private static RayfleetOptions Valid() => new()
    {
        DataDirectory = "/srv/rf",
        ReleaseVersions =
        [
            new() { DisplayReleaseVersion = "ray-1.0.0", RayVersion = "2.47.1", PythonVersion = "3.12", Image = "rayproject/ray:2.47.1" },
            new() { DisplayReleaseVersion = "ray-1.2.0", RayVersion = "2.55.1", PythonVersion = "3.12", Image = "rayproject/ray:2.55.1" },
        ],
        GpuTypes = [new() { InstanceType = "t4", Cpu = "4", Memory = "15Gi", GpuModel = "T4" }],
    };

    [Fact]
    public void Broken_settings_in_sections_and_list_entries_are_named_by_their_configuration_path()
    {
        var options = Valid();
        options.Reconciler.MaxParallelism = 0;
        options.ReleaseVersions[1].Image = " ";
        options.GpuTypes[0].GpuCount = 0;

        var failures = new RayfleetOptionsAnnotationsValidator().Validate(null, options).Failures!.ToList();

        Assert.Equal(3, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:Reconciler:MaxParallelism: ", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:ReleaseVersions:1:Image: ", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Rayfleet:GpuTypes:0:GpuCount: ", StringComparison.Ordinal));
        Assert.True(new RayfleetOptionsAnnotationsValidator().Validate(null, Valid()).Succeeded);
    }

    [Fact]
    public void Every_failure_of_every_options_type_is_one_line_and_other_exceptions_are_not_configuration_errors()
    {
        var startup = new AggregateException(
            new OptionsValidationException("", typeof(RayfleetOptions), ["Rayfleet:DefaultProvider: 'x' is not one of: local.", "Rayfleet:A: two\nlines."]),
            new OptionsValidationException("", typeof(object), ["Rayfleet:Security:RateLimit: must be positive."]));

        Assert.Equal(
            ["Rayfleet:DefaultProvider: 'x' is not one of: local.", "Rayfleet:A: two lines.", "Rayfleet:Security:RateLimit: must be positive."],
            RayfleetOptionsErrors.Describe(startup));
        Assert.Empty(RayfleetOptionsErrors.Describe(new InvalidOperationException("a bug")));
        Assert.Empty(RayfleetOptionsErrors.Describe(new AggregateException(startup.InnerExceptions[0], new IOException("disk"))));
    }

    [Fact]
    public void A_value_the_binder_cannot_convert_is_named_with_its_setting()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Rayfleet:Reconciler:ResyncInterval"] = "abc" })
            .Build();

        var e = Assert.ThrowsAny<InvalidOperationException>(() => configuration.GetSection(RayfleetOptions.Section).Get<RayfleetOptions>());

        Assert.Equal(["Rayfleet:Reconciler:ResyncInterval: 'abc' is not a valid TimeSpan."], RayfleetOptionsErrors.Describe(e));
    }
}
