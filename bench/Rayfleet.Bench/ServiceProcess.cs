using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rayfleet.Core.Signing;

namespace Rayfleet.Bench;

/// <summary>
/// The real service in a process of its own (the Rayfleet.Server build copied next to the benchmark), so that what its
/// memory figures show is the service's alone, under the GC settings of its own runtimeconfig.json.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private const int KeptOutputLines = 40;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output;

    private readonly LogTally _tally;

    private ServiceProcess(Process process, ConcurrentQueue<string> output, LogTally tally, Uri baseAddress)
    {
        _process = process;
        _output = output;
        _tally = tally;
        BaseAddress = baseAddress;
    }

    /// <summary>Log entries at Warning or above the service wrote so far (the console logger's <c>warn:</c>, <c>fail:</c>, <c>crit:</c>).</summary>
    public int WarningCount => _tally.Count;

    /// <summary>The first few of those entries: the category line and the message line after it.</summary>
    public IReadOnlyList<string> FirstWarnings => _tally.First;

    /// <summary>Forgets the entries so far (the start's), so that the count is what the load caused.</summary>
    public void ResetWarnings() => _tally.Reset();

    public Uri BaseAddress { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>The last lines the service wrote to stdout and stderr.</summary>
    public string RecentOutput => string.Join('\n', _output);

    /// <param name="workingDirectory">An empty folder, so that no appsettings.json is picked up from the current
    /// directory; the settings passed as environment variables are all there is.</param>
    /// <param name="overrides">Settings that replace the bench's (ServiceHost.Settings); a null value drops the bench's
    /// setting, so that the service's own default applies.</param>
    public static async Task<ServiceProcess> StartAsync(
        string workingDirectory, string dataDirectory, bool reconciler, AccessKey? accessKey, CancellationToken ct,
        IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var baseAddress = new Uri($"http://127.0.0.1:{FreeLoopbackPort()}");
        var start = ServerCommand();
        start.WorkingDirectory = workingDirectory;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        // The release catalogue is the shipped one, which the published server reads beside its binary; the in-process
        // host's copy would be merged into it entry by entry.
        var settings = ServiceHost.Settings(dataDirectory, reconciler, accessKey);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            if (value is null) settings.Remove(key);
            else settings[key] = value;
        }
        foreach (var (key, value) in settings.Where(kv => !kv.Key.StartsWith("Rayfleet:ReleaseVersions:", StringComparison.Ordinal)))
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        start.Environment["Urls"] = baseAddress.ToString().TrimEnd('/');

        var output = new ConcurrentQueue<string>();
        var tally = new LogTally();
        var process = new Process { StartInfo = start };
        void Keep(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            tally.See(e.Data);
            output.Enqueue(e.Data);
            while (output.Count > KeptOutputLines) output.TryDequeue(out string? _);
        }
        process.OutputDataReceived += Keep;
        process.ErrorDataReceived += Keep;
        if (!process.Start()) throw new BenchFailedException($"Could not start {start.FileName} {start.Arguments}.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var service = new ServiceProcess(process, output, tally, baseAddress);
        try
        {
            using var exited = CancellationTokenSource.CreateLinkedTokenSource(ct);
            void Cancel(object? _, EventArgs e) => exited.Cancel();
            process.EnableRaisingEvents = true;
            process.Exited += Cancel;
            try
            {
                await ServiceHost.WaitReadyAsync(baseAddress, TimeSpan.FromSeconds(60), exited.Token);
            }
            finally
            {
                process.Exited -= Cancel;
            }
            return service;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var code = process.HasExited ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";
            await service.DisposeAsync();
            throw new BenchFailedException($"The service exited with code {code} before it was ready:\n{service.RecentOutput}");
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    /// <summary>The apphost copied beside the benchmark, or <c>dotnet Rayfleet.Server.dll</c> where there is none.</summary>
    private static ProcessStartInfo ServerCommand()
    {
        var directory = AppContext.BaseDirectory;
        var apphost = Path.Combine(directory, OperatingSystem.IsWindows() ? "Rayfleet.Server.exe" : "Rayfleet.Server");
        if (File.Exists(apphost)) return new ProcessStartInfo(apphost);
        var dll = Path.Combine(directory, "Rayfleet.Server.dll");
        if (!File.Exists(dll)) throw new BenchFailedException($"Rayfleet.Server.dll is not in {directory}; build the benchmark project.");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet");
        start.ArgumentList.Add(dll);
        return start;
    }

    /// <summary>A port free a moment ago; the service binds it right after, and a lost race fails the start clearly.</summary>
    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Counts the entries at Warning or above in the console logger's output and keeps the first few.</summary>
    private sealed class LogTally
    {
        private const int Kept = 6;
        private readonly Lock _lock = new();
        private readonly List<string> _first = [];
        private bool _keepNext;
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public IReadOnlyList<string> First
        {
            get
            {
                lock (_lock) return [.. _first];
            }
        }

        public void Reset()
        {
            lock (_lock)
            {
                _count = 0;
                _first.Clear();
                _keepNext = false;
            }
        }

        public void See(string line)
        {
            lock (_lock)
            {
                if (_keepNext)
                {
                    _first[^1] += " " + line.Trim();
                    _keepNext = false;
                }
                if (!line.StartsWith("warn:", StringComparison.Ordinal) && !line.StartsWith("fail:", StringComparison.Ordinal)
                    && !line.StartsWith("crit:", StringComparison.Ordinal)) return;
                _count++;
                if (_first.Count >= Kept) return;
                _first.Add(line);
                _keepNext = true;
            }
        }
    }
}
