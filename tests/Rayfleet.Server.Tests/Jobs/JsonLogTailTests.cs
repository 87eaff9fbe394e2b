using System.Text;
using System.Text.Json;
using Rayfleet.Server.Jobs;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>The streaming reader of Ray's <c>{"logs": ...}</c> answer: any cut, any chunking, the same text as a full parse.</summary>
public sealed class JsonLogTailTests
{
    /// <summary>Hands out one byte per read: every escape and every UTF-8 sequence is split somewhere.</summary>
    private sealed class Trickle(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(1, buffer.Length)], cancellationToken);
    }

    private static async Task<(string Logs, long Dropped)> ReadAsync(string json, int maxChars) =>
        await JsonLogTail.ReadAsync(new Trickle(Encoding.UTF8.GetBytes(json)), maxChars, CancellationToken.None);

    [Fact]
    public async Task Every_cut_of_an_escaped_log_equals_the_tail_of_the_full_parse()
    {
        const string log = "a\"b\\c\td\ne/f ü \u0001 😀 \u2028 end";
        // Both escaped and raw forms of the same text: Ray's json.dumps escapes non-ASCII, other servers may not.
        foreach (var json in new[] { JsonSerializer.Serialize(new { logs = log }), """{"logs": "a\"b\\c\td\ne\/f \u00fc \u0001 \ud83d\ude00 \u2028 end"}""" })
        {
            Assert.Equal(log, JsonDocument.Parse(json).RootElement.GetProperty("logs").GetString());
            for (var max = 1; max <= log.Length + 1; max++)
            {
                var (tail, dropped) = await ReadAsync(json, max);
                var expected = log.Length <= max ? log : log[^max..];
                // A cut never starts on the second half of a surrogate pair: it takes one character less.
                if (expected.Length > 0 && char.IsLowSurrogate(expected[0])) expected = expected[1..];
                Assert.Equal(expected, tail);
                Assert.Equal(log.Length - expected.Length, dropped);
            }
        }
    }

    [Fact]
    public async Task Only_the_top_level_logs_member_counts()
    {
        var (logs, dropped) = await ReadAsync("""{"x": {"logs": "nested"}, "y": ["logs", 1, null], "logs": "top"}""", 100);

        Assert.Equal("top", logs);
        Assert.Equal(0, dropped);
    }

    [Theory]
    [InlineData("""{"logs": "unterminated""")]
    [InlineData("""{"other": "x"}""")]
    [InlineData("""["logs"]""")]
    [InlineData("""{"logs": 5}""")]
    [InlineData("""{"logs": "x"} trailing""")]
    [InlineData("""{"logs": "bad \q escape"}""")]
    public async Task An_answer_that_is_not_a_logs_object_is_refused(string json)
    {
        await Assert.ThrowsAnyAsync<JsonException>(() => ReadAsync(json, 100));
    }

    [Fact]
    public async Task A_null_log_is_empty()
    {
        Assert.Equal(("", 0L), await ReadAsync("""{"logs": null}""", 100));
    }
}
