using Rayfleet.Core.Clusters;

namespace Rayfleet.Core.Tests;

/// <summary>The one meaning of a rayStartParams string (README, "rayStartParams"), before any provider renders it.</summary>
public sealed class RayStartOptionsTests
{
    private static (string Name, string? Value)[] Parsed(string text) =>
        [.. RayStartOptions.Parse(text).Options.Select(o => (o.Name, o.Value))];

    [Fact]
    public void Quotes_group_words_and_are_removed_like_a_shell_but_nothing_is_expanded()
    {
        Assert.Equal(
            [("resources", "{\"x\": 1}"), ("node-name", "it's mine"), ("temp-dir", "/tmp/a b"), ("plasma-directory", "$HOME/x"),
             ("storage", "a\\b\"c"), ("tracing-startup-hook", "")],
            Parsed("--resources='{\"x\": 1}' --node-name \"it's mine\" --temp-dir=/tmp/a\\ b --plasma-directory='$HOME/x' "
                   + "--storage=\"a\\\\b\\\"c\" --tracing-startup-hook ''"));
    }

    [Fact]
    public void A_flag_ray_start_declares_with_a_value_takes_the_next_word()
    {
        Assert.Equal([("num-cpus", "4"), ("disable-usage-stats", null), ("include-dashboard", "false")],
            Parsed("--num-cpus 4 --disable-usage-stats --include-dashboard false"));
    }

    [Fact]
    public void A_switch_given_true_is_on_and_given_false_is_left_out()
    {
        Assert.Equal([("disable-usage-stats", null)], Parsed("--disable-usage-stats=True --ray-debugger-external=false"));
    }

    [Fact]
    public void An_unknown_bare_flag_is_a_switch_and_an_unknown_flag_with_equals_has_a_value()
    {
        Assert.Equal([("my-switch", null), ("my-flag", "true")], Parsed("--my-switch --my-flag=true"));
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(500L, 0L)]
    [InlineData(1000L, 1L)]
    [InlineData(2500L, 2L)]
    public void Ray_is_told_the_whole_cores_rounded_down(long milliCpu, long cores) =>
        Assert.Equal(cores, RayStartOptions.WholeCores(milliCpu));
}
