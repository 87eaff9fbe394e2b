namespace Rayfleet.Server.Providers.Local;

/// <summary>The earliest time something is due, and whether something wants a look again soon.</summary>
internal sealed class NextEvent(long now)
{
    public long? Earliest { get; private set; }
    public TimeSpan? SoonAfter { get; private set; }

    public void At(long when)
    {
        if (when > now) Earliest = Earliest is null ? when : Math.Min(Earliest.Value, when);
        else Soon(TimeSpan.Zero);
    }

    public void Soon(TimeSpan after)
    {
        if (SoonAfter is null || after < SoonAfter) SoonAfter = after;
    }
}
