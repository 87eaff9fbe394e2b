using Rayfleet.Server.Hosting;

namespace Rayfleet.Server.Tests.Hosting;

public sealed class KeyedGatesTests
{
    [Fact]
    public async Task A_key_holds_no_gate_once_nobody_holds_or_waits_for_it()
    {
        using var gates = new KeyedGates();
        for (var i = 0; i < 1000; i++)
            (await gates.EnterAsync($"token-{i}", CancellationToken.None)).Dispose();
        Assert.Equal(0, gates.Count);

        var holder = await gates.EnterAsync("a", CancellationToken.None);
        var waiter = gates.EnterAsync("a", CancellationToken.None);
        Assert.False(waiter.IsCompleted);
        Assert.Equal(1, gates.Count);
        holder.Dispose();
        Assert.Equal(1, gates.Count); // the waiter holds it now
        (await waiter).Dispose();
        Assert.Equal(0, gates.Count);
    }

    [Fact]
    public async Task A_cancelled_waiter_lets_go_of_the_gate()
    {
        using var gates = new KeyedGates();
        var holder = await gates.EnterAsync("a", CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiter = gates.EnterAsync("a", cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter);

        holder.Dispose();
        Assert.Equal(0, gates.Count);
        var again = gates.EnterAsync("a", CancellationToken.None);
        Assert.True(again.IsCompletedSuccessfully);
        (await again).Dispose();
    }
}
