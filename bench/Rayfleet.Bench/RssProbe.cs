using System.Diagnostics;
using System.Globalization;

namespace Rayfleet.Bench;

/// <summary>
/// Resident set size of another process. On Linux from /proc: VmRSS now, and VmHWM, the exact peak since the last
/// <see cref="ResetPeak"/>, so that a spike shorter than the sampling interval is not missed. Elsewhere the working set,
/// and the peak is only what the samples saw.
/// </summary>
public sealed class RssProbe(int processId)
{
    private readonly string _status = $"/proc/{processId}/status";
    private readonly string _clearRefs = $"/proc/{processId}/clear_refs";

    public long CurrentBytes() => ReadKib("VmRSS:") is { } kib ? kib * 1024 : WorkingSet();

    /// <summary>The kernel's peak RSS since <see cref="ResetPeak"/> (or the process start); null where unknown.</summary>
    public long? PeakBytes() => ReadKib("VmHWM:") is { } kib ? kib * 1024 : null;

    /// <summary>Sets the kernel's peak to the current RSS ("5" to clear_refs, Linux 4.0 and later). False where not possible.</summary>
    public bool ResetPeak()
    {
        try
        {
            File.WriteAllText(_clearRefs, "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>User plus system CPU time the process has used so far.</summary>
    public TimeSpan CpuTime()
    {
        using var process = Process.GetProcessById(processId);
        return process.TotalProcessorTime;
    }

    private long WorkingSet()
    {
        using var process = Process.GetProcessById(processId);
        return process.WorkingSet64;
    }

    private long? ReadKib(string field)
    {
        try
        {
            foreach (var line in File.ReadLines(_status))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var value = line[field.Length..].Trim();
                var space = value.IndexOf(' ', StringComparison.Ordinal);
                return long.TryParse(space < 0 ? value : value[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib : null;
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
