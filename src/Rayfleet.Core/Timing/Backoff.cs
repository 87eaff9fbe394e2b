namespace Rayfleet.Core.Timing;

/// <summary>
/// The one backoff of Rayfleet's own retries (the reconciler's failed passes, a local worker's restarts): doubling from
/// a base up to a cap. Calls to a remote API (Kubernetes) retry through Polly instead, whose exponential backoff is
/// the same curve with its own jitter.
/// </summary>
public static class Backoff
{
    /// <summary>The wait before attempt <paramref name="failures"/> + 1: base × 2^(failures − 1), at most <paramref name="max"/>.</summary>
    public static TimeSpan Exponential(TimeSpan @base, TimeSpan max, int failures)
    {
        if (failures < 1) return TimeSpan.Zero;
        var ms = @base.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromMilliseconds(Math.Min(ms, max.TotalMilliseconds));
    }

    /// <summary>
    /// <see cref="Exponential"/> spread by a factor in [0.5, 1.5) from <paramref name="random"/>, so that keys that
    /// failed together do not retry together.
    /// </summary>
    public static TimeSpan Jittered(TimeSpan @base, TimeSpan max, int failures, Random random) =>
        Exponential(@base, max, failures) * (0.5 + random.NextDouble());
}
