using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Tests.Support;

/// <summary>
/// One Ray stand-in head started by hand on free loopback ports, with a temp folder of its own: Ray's Job API on its
/// dashboard, for tests of <see cref="RayJobClient"/>. Disposing sends SIGTERM (the stand-in stops its jobs) and
/// SIGKILL after a while, and deletes the folder.
/// </summary>
public sealed class StandInHead : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private StandInHead(double agentDelaySeconds)
    {
        TempDir = Path.Combine(Path.GetTempPath(), "rft-head-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(TempDir);
        var ports = FreePorts(4);
        DashboardPort = ports[1];
        var start = new ProcessStartInfo(LocalSetup.StandIn) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "start", "--head", "--block", $"--port={ports[0]}", $"--dashboard-port={ports[1]}",
                     $"--ray-client-server-port={ports[2]}", $"--dashboard-agent-listen-port={ports[3]}", $"--temp-dir={TempDir}" })
            start.ArgumentList.Add(a);
        start.Environment["RAYFLEET_STANDIN_AGENT_DELAY_SECONDS"] = agentDelaySeconds.ToString(CultureInfo.InvariantCulture);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts a head and waits until its dashboard answers the health request.</summary>
    public static async Task<StandInHead> StartAsync(double agentDelaySeconds = 0)
    {
        var head = new StandInHead(agentDelaySeconds);
        try
        {
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
            await Wall.UntilAsync(async () =>
            {
                try
                {
                    using var response = await http.GetAsync(new Uri(head.Dashboard, "api/gcs_healthz"));
                    return response.IsSuccessStatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    if (head._process.HasExited) throw new InvalidOperationException($"The stand-in head exited: {head.Output}", ex);
                    return false;
                }
            }, "the stand-in head's dashboard answers");
            return head;
        }
        catch
        {
            head.Dispose();
            throw;
        }
    }

    public string TempDir { get; }

    public int DashboardPort { get; }

    public Uri Dashboard => new($"http://127.0.0.1:{DashboardPort}/");

    public int Pid => _process.Id;

    /// <summary>Where the stand-in keeps job logs, as Ray does: the session's log folder.</summary>
    public string JobLog(string submissionId) => Path.Combine(TempDir, "session_latest", "logs", $"job-driver-{submissionId}.log");

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>A client for this head from the service's own registration (the named client of the factory).</summary>
    public RayJobClient Client(int maxLogChars = RayJobClient.DefaultMaxLogChars) => Client(Dashboard, maxLogChars);

    public static RayJobClient Client(Uri dashboard, int maxLogChars = RayJobClient.DefaultMaxLogChars) =>
        new(Factory.CreateClient(RayJobClient.HttpClientName), dashboard, maxLogChars);

    private static readonly IHttpClientFactory Factory =
        new ServiceCollection().AddRayJobClient().BuildServiceProvider().GetRequiredService<IHttpClientFactory>();

    /// <summary>Loopback ports that were free a moment ago (bound together, so they differ).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>Live processes whose command line is exactly <paramref name="argv"/>.</summary>
    public static IReadOnlyList<int> PidsOf(params string[] argv)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (cmdline.SequenceEqual(argv) && ProcFs.ReadStat(pid) is { IsAlive: true }) pids.Add(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            ProcFs.Signal(_process.Id, ProcFs.SigTerm);
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) _process.Kill(entireProcessTree: true);
        }
        _process.WaitForExit();
        _process.Dispose();
        RayfleetHost.TryDelete(TempDir);
    }
}
