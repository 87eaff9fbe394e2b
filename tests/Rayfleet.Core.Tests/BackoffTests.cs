using Rayfleet.Core.Timing;

namespace Rayfleet.Core.Tests;

public sealed class BackoffTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 500)]
    [InlineData(2, 1000)]
    [InlineData(3, 2000)]
    [InlineData(8, 60_000)]
    [InlineData(1000, 60_000)]
    public void Doubles_from_the_base_up_to_the_cap(int failures, double expectedMs) =>
        Assert.Equal(expectedMs, Backoff.Exponential(TimeSpan.FromMilliseconds(500), TimeSpan.FromMinutes(1), failures).TotalMilliseconds);

    [Fact]
    public void Jitter_stays_within_half_and_one_and_a_half_of_the_curve()
    {
        var random = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var ms = Backoff.Jittered(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), 3, random).TotalMilliseconds;
            Assert.InRange(ms, 2000, 6000);
        }
    }
}
