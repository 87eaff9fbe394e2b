using System.Globalization;

namespace Rayfleet.Core.Capacity;

/// <summary>Parses the quantities of the wire: cpu as cores or millicores, memory as Kubernetes quantities.</summary>
public static class Quantity
{
    /// <summary>Cores ("2", "0.5") or millicores ("500m") to millicores; null when invalid, zero or negative.</summary>
    public static long? ParseCpuMillis(string? text)
    {
        if (!TryParse(text, out var value, out var suffix)) return null;
        if (value > long.MaxValue / 2000m) return null;
        decimal millis = suffix switch
        {
            "" => value * 1000m,
            "m" => value,
            _ => -1,
        };
        if (millis <= 0) return null;
        // Kubernetes rounds CPU up to whole millicores.
        var rounded = decimal.Ceiling(millis);
        return rounded > long.MaxValue / 2 ? null : (long)rounded;
    }

    /// <summary>Kubernetes memory quantity ("8Gi", "512Mi", "8G", "1073741824") to bytes; null when invalid or below one byte.</summary>
    public static long? ParseMemoryBytes(string? text)
    {
        if (!TryParse(text, out var value, out var suffix)) return null;
        decimal multiplier = suffix switch
        {
            "" => 1m,
            "m" => 0.001m,
            "k" => 1e3m,
            "M" => 1e6m,
            "G" => 1e9m,
            "T" => 1e12m,
            "P" => 1e15m,
            "E" => 1e18m,
            "Ki" => 1024m,
            "Mi" => 1024m * 1024,
            "Gi" => 1024m * 1024 * 1024,
            "Ti" => 1024m * 1024 * 1024 * 1024,
            "Pi" => 1024m * 1024 * 1024 * 1024 * 1024,
            "Ei" => 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
            _ => 0m,
        };
        try
        {
            var bytes = decimal.Ceiling(value * multiplier);
            if (bytes < 1 || bytes > long.MaxValue / 2) return null;
            return (long)bytes;
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    /// <summary>
    /// Splits a Kubernetes quantity into its number (<c>12</c>, <c>0.5</c>, <c>.5</c>, <c>1e3</c>) and suffix: a string
    /// that ends in a letter carries a suffix, since a number ends in a digit or a point. No allocation: every create
    /// parses a few of these.
    /// </summary>
    private static bool TryParse(string? text, out decimal value, out string suffix)
    {
        value = 0;
        suffix = "";
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64) return false;
        var span = text.AsSpan();
        var suffixLength = span[^1] == 'i' ? 2 : char.IsAsciiLetter(span[^1]) ? 1 : 0;
        if (suffixLength > span.Length) return false;
        suffix = suffixLength == 0 ? "" : text[^suffixLength..] switch
        {
            "Ki" => "Ki", "Mi" => "Mi", "Gi" => "Gi", "Ti" => "Ti", "Pi" => "Pi", "Ei" => "Ei",
            "m" => "m", "k" => "k", "M" => "M", "G" => "G", "T" => "T", "P" => "P", "E" => "E",
            _ => "?",
        };
        var number = span[..^suffixLength];
        return suffix != "?" && IsNumber(number)
               && decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
               && value > 0;
    }

    /// <summary><c>(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?</c> over ASCII digits.</summary>
    private static bool IsNumber(ReadOnlySpan<char> s)
    {
        var i = 0;
        var whole = Digits(s, ref i);
        var fraction = 0;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            fraction = Digits(s, ref i);
        }
        if (whole == 0 && fraction == 0) return false;
        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-') i++;
            if (Digits(s, ref i) == 0) return false;
        }
        return i == s.Length;
    }

    private static int Digits(ReadOnlySpan<char> s, ref int i)
    {
        var start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
        return i - start;
    }

    public static string FormatCores(long millis) =>
        millis % 1000 == 0
            ? (millis / 1000).ToString(CultureInfo.InvariantCulture)
            : (millis / 1000m).ToString("0.###", CultureInfo.InvariantCulture);

    public static string FormatMemory(long bytes)
    {
        const long gi = 1L << 30, mi = 1L << 20;
        if (bytes % gi == 0) return (bytes / gi).ToString(CultureInfo.InvariantCulture) + "Gi";
        if (bytes % mi == 0) return (bytes / mi).ToString(CultureInfo.InvariantCulture) + "Mi";
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    public static string FormatCu(decimal cu) => cu.ToString("0.###", CultureInfo.InvariantCulture);
}
