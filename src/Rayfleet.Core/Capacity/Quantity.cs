using System.Globalization;
using System.Text.RegularExpressions;

namespace Rayfleet.Core.Capacity;

/// <summary>Parses the quantities of the wire: cpu as cores or millicores, memory as Kubernetes quantities.</summary>
public static partial class Quantity
{
    [GeneratedRegex(@"^(?<num>(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)(?<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex QuantityPattern();

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

    private static bool TryParse(string? text, out decimal value, out string suffix)
    {
        value = 0;
        suffix = "";
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64) return false;
        var match = QuantityPattern().Match(text);
        if (!match.Success) return false;
        suffix = match.Groups["suffix"].Value;
        return decimal.TryParse(match.Groups["num"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
               && value > 0;
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
