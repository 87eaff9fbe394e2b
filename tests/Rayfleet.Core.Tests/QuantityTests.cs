using Rayfleet.Core.Capacity;

namespace Rayfleet.Core.Tests;

public class QuantityTests
{
    [Theory]
    [InlineData("2", 2000L)]
    [InlineData("1", 1000L)]
    [InlineData("0.5", 500L)]
    [InlineData(".5", 500L)]
    [InlineData("1.25", 1250L)]
    [InlineData("500m", 500L)]
    [InlineData("1m", 1L)]
    [InlineData("2000m", 2000L)]
    [InlineData("1e1", 10000L)]
    public void Cpu_in_cores_or_millicores_parses_to_millicores(string text, long expected)
    {
        Assert.Equal(expected, Quantity.ParseCpuMillis(text));
    }

    [Fact]
    public void Cpu_below_one_millicore_rounds_up_to_one_millicore()
    {
        Assert.Equal(1L, Quantity.ParseCpuMillis("0.0001"));
        Assert.Equal(2L, Quantity.ParseCpuMillis("1.5m"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0.0")]
    [InlineData("0m")]
    [InlineData("-1")]
    [InlineData("-500m")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("abc")]
    [InlineData("1Ki")]
    [InlineData("1Gi")]
    [InlineData("1k")]
    [InlineData("2 ")]
    [InlineData(" 2")]
    [InlineData("1.2.3")]
    [InlineData("+2")]
    [InlineData("0x10")]
    [InlineData("1,5")]
    [InlineData(null)]
    public void Invalid_cpu_values_are_rejected(string? text)
    {
        Assert.Null(Quantity.ParseCpuMillis(text));
    }

    [Fact]
    public void Cpu_longer_than_64_characters_is_rejected()
    {
        Assert.Null(Quantity.ParseCpuMillis(new string('1', 65)));
    }

    [Fact]
    public void Cpu_too_large_to_count_in_millicores_is_rejected()
    {
        // 10^19 cores do not fit in a long as millicores.
        Assert.Null(Quantity.ParseCpuMillis("10000000000000000000"));
    }

    [Fact]
    public void Cpu_near_decimal_max_is_rejected_instead_of_throwing()
    {
        Assert.Null(Quantity.ParseCpuMillis("70000000000000000000000000000"));
    }

    [Theory]
    [InlineData("2\n")]
    [InlineData("500m\n")]
    public void Cpu_with_a_trailing_newline_is_rejected(string text)
    {
        Assert.Null(Quantity.ParseCpuMillis(text));
    }

    [Fact]
    public void Memory_with_a_trailing_newline_is_rejected()
    {
        Assert.Null(Quantity.ParseMemoryBytes("8Gi\n"));
    }

    [Theory]
    [InlineData("8Gi", 8L * 1024 * 1024 * 1024)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("512Mi", 512L * 1024 * 1024)]
    [InlineData("1Ki", 1024L)]
    [InlineData("1Ti", 1L << 40)]
    [InlineData("0.5Gi", 1L << 29)]
    [InlineData("8G", 8_000_000_000L)]
    [InlineData("500M", 500_000_000L)]
    [InlineData("1k", 1000L)]
    [InlineData("1073741824", 1073741824L)]
    [InlineData("1", 1L)]
    [InlineData("1e3", 1000L)]
    public void Memory_kubernetes_quantities_parse_to_bytes(string text, long expected)
    {
        Assert.Equal(expected, Quantity.ParseMemoryBytes(text));
    }

    [Fact]
    public void Fractional_bytes_round_up()
    {
        Assert.Equal(2L, Quantity.ParseMemoryBytes("1.5"));
    }

    [Theory]
    [InlineData("0Gi")]
    [InlineData("0")]
    [InlineData("-1Gi")]
    [InlineData("-1")]
    [InlineData("NaN")]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("1.2.3")]
    [InlineData("abc")]
    [InlineData("8GB")]
    [InlineData("8gi")]
    [InlineData("8 Gi")]
    [InlineData("Gi")]
    [InlineData(null)]
    public void Invalid_memory_values_are_rejected(string? text)
    {
        Assert.Null(Quantity.ParseMemoryBytes(text));
    }

    [Fact]
    public void Memory_too_large_for_a_long_is_rejected_without_throwing()
    {
        Assert.Null(Quantity.ParseMemoryBytes("100000000000E"));
        Assert.Null(Quantity.ParseMemoryBytes("10000000000000000000"));
    }

    [Theory]
    [InlineData(2000L, "2")]
    [InlineData(0L, "0")]
    [InlineData(500L, "0.5")]
    [InlineData(1500L, "1.5")]
    [InlineData(1L, "0.001")]
    [InlineData(1250L, "1.25")]
    public void FormatCores_writes_whole_or_decimal_cores(long millis, string expected)
    {
        Assert.Equal(expected, Quantity.FormatCores(millis));
    }

    [Theory]
    [InlineData(8L * 1024 * 1024 * 1024, "8Gi")]
    [InlineData(512L * 1024 * 1024, "512Mi")]
    [InlineData(1536L * 1024 * 1024, "1536Mi")]
    [InlineData(1000L, "1000")]
    [InlineData(8_000_000_000L, "8000000000")]
    public void FormatMemory_uses_the_largest_exact_binary_unit(long bytes, string expected)
    {
        Assert.Equal(expected, Quantity.FormatMemory(bytes));
    }

    [Theory]
    [InlineData("2", "2")]
    [InlineData("0.5", "0.5")]
    [InlineData("2.25", "2.25")]
    [InlineData("2.0", "2")]
    [InlineData("0.3333333", "0.333")]
    public void FormatCu_writes_up_to_three_decimals(string cu, string expected)
    {
        Assert.Equal(expected, Quantity.FormatCu(decimal.Parse(cu, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Parsed_values_format_back_to_their_canonical_text()
    {
        Assert.Equal("0.5", Quantity.FormatCores(Quantity.ParseCpuMillis("500m")!.Value));
        Assert.Equal("8Gi", Quantity.FormatMemory(Quantity.ParseMemoryBytes("8192Mi")!.Value));
    }
}
