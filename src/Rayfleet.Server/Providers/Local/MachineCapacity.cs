using System.Diagnostics;
using System.Globalization;

namespace Rayfleet.Server.Providers.Local;

/// <summary>What this machine offers to clusters of the local provider.</summary>
public interface IMachineCapacity
{
    int Cores { get; }
    long MemoryBytes { get; }
    int Gpus { get; }
}

public static class MachineCapacityExtensions
{
    /// <summary>
    /// The CU a queue may hand out without overcommitting either cores or memory: a node needs max(cores, GiB / 4) CU,
    /// so a queue of min(cores, GiB / 4) CU never admits more cores or more memory than the machine has.
    /// </summary>
    public static decimal QueueCu(this IMachineCapacity capacity)
    {
        var byMemory = decimal.Floor(capacity.MemoryBytes / (decimal)(4L << 30) * 1000m) / 1000m;
        return Math.Max(0.001m, Math.Min(capacity.Cores, byMemory));
    }
}

/// <summary>
/// Cores from <see cref="Environment.ProcessorCount"/> (which honours CPU affinity and cgroup quotas), memory from
/// <c>/proc/meminfo</c>, GPUs from <c>nvidia-smi</c> when it is on PATH. Read once, on first use.
/// </summary>
public sealed class MachineCapacity : IMachineCapacity
{
    private readonly Lazy<long> _memory = new(ReadMemTotal);
    private readonly Lazy<int> _gpus = new(CountGpus);

    public int Cores => Environment.ProcessorCount;
    public long MemoryBytes => _memory.Value;
    public int Gpus => _gpus.Value;

    private static long ReadMemTotal()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (ParseMemTotal(line) is { } bytes) return bytes;
        }
        catch (IOException)
        {
        }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    public static long? ParseMemTotal(string line)
    {
        // "MemTotal:       24576000 kB"
        if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) return null;
        var parts = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 1 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : null;
    }

    private static int CountGpus()
    {
        if (RayStartCommand.Resolve("nvidia-smi", Environment.GetEnvironmentVariable("PATH")) is not { } smi) return 0;
        try
        {
            using var process = Process.Start(new ProcessStartInfo(smi, ["--query-gpu=count", "--format=csv,noheader"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null) return 0;
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return 0;
            }
            return process.ExitCode == 0 ? ParseGpuCount(output.Result) : 0;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary><c>--query-gpu=count</c> prints the machine's GPU count once per GPU; a machine without any prints nothing.</summary>
    public static int ParseGpuCount(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length > 0 && int.TryParse(lines[0], CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : 0;
    }
}
