using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Rayfleet.RayStandIn;

/// <summary>
/// A stand-in for <c>ray start --block</c> in Rayfleet's tests. It is not Ray (see README.md): it checks the arguments
/// the way <c>ray start</c> does, listens on the ports it is given, answers the dashboard's health request and Ray's Job
/// Submission REST API (running each job's entrypoint for real) and exits on SIGTERM, so that the local provider's process handling can be tested where Ray cannot be installed.
/// </summary>
internal static class StandIn
{
    private const string Tag = "[ray stand-in, not Ray]";

    private enum Kind
    {
        Flag,
        String,
        Int,
        Bool,
    }

    // The options of `ray start` (python/ray/scripts/scripts.py, Ray 2.4x), with click's types.
    private static readonly Dictionary<string, Kind> Options = new(StringComparer.Ordinal)
    {
        ["--node-ip-address"] = Kind.String, ["--address"] = Kind.String, ["--port"] = Kind.Int,
        ["--node-name"] = Kind.String, ["--redis-username"] = Kind.String, ["--redis-password"] = Kind.String,
        ["--redis-shard-ports"] = Kind.String, ["--object-manager-port"] = Kind.Int, ["--node-manager-port"] = Kind.Int,
        ["--gcs-server-port"] = Kind.Int, ["--min-worker-port"] = Kind.Int, ["--max-worker-port"] = Kind.Int,
        ["--worker-port-list"] = Kind.String, ["--ray-client-server-port"] = Kind.Int, ["--memory"] = Kind.Int,
        ["--object-store-memory"] = Kind.Int, ["--redis-max-memory"] = Kind.Int, ["--num-cpus"] = Kind.Int,
        ["--num-gpus"] = Kind.Int, ["--resources"] = Kind.String, ["--head"] = Kind.Flag,
        ["--include-dashboard"] = Kind.Bool, ["--dashboard-host"] = Kind.String, ["--dashboard-port"] = Kind.Int,
        ["--dashboard-agent-listen-port"] = Kind.Int, ["--dashboard-agent-grpc-port"] = Kind.Int,
        ["--dashboard-grpc-port"] = Kind.Int, ["--runtime-env-agent-port"] = Kind.Int, ["--block"] = Kind.Flag,
        ["--plasma-directory"] = Kind.String, ["--object-spilling-directory"] = Kind.String,
        ["--autoscaling-config"] = Kind.String, ["--no-redirect-output"] = Kind.Flag,
        ["--plasma-store-socket-name"] = Kind.String, ["--raylet-socket-name"] = Kind.String,
        ["--temp-dir"] = Kind.String, ["--storage"] = Kind.String, ["--system-config"] = Kind.String,
        ["--enable-object-reconstruction"] = Kind.Flag, ["--metrics-export-port"] = Kind.Int,
        ["--no-monitor"] = Kind.Flag, ["--tracing-startup-hook"] = Kind.String, ["--ray-debugger-external"] = Kind.Flag,
        ["--disable-usage-stats"] = Kind.Flag, ["--labels"] = Kind.String, ["--labels-file"] = Kind.String,
        ["--include-log-monitor"] = Kind.Bool, ["--log-style"] = Kind.String, ["--log-color"] = Kind.String,
        ["--verbose"] = Kind.Flag, ["-v"] = Kind.Flag,
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] != "start")
            return UsageError(args.Length == 0 ? "Missing command." : $"No such command '{args[0]}'. This stand-in knows only 'start'.");

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i++)
        {
            var token = args[i];
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            var name = token.StartsWith("--", StringComparison.Ordinal) && eq > 0 ? token[..eq] : token;
            if (!Options.TryGetValue(name, out var kind))
                return UsageError(token.StartsWith('-') ? $"No such option: {name}" : $"Got unexpected extra argument ({token})");
            string value;
            if (kind == Kind.Flag)
            {
                if (eq > 0 && name != token) return UsageError($"Option '{name}' does not take a value.");
                value = "true";
            }
            else if (name != token)
            {
                value = token[(eq + 1)..];
            }
            else if (i + 1 < args.Length)
            {
                value = args[++i];
            }
            else
            {
                return UsageError($"Option '{name}' requires an argument.");
            }
            if (kind == Kind.Int && !long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
                return UsageError($"Invalid value for '{name}': '{value}' is not a valid integer.");
            if (kind == Kind.Bool && !IsBool(value))
                return UsageError($"Invalid value for '{name}': '{value}' is not a valid boolean.");
            if (values.ContainsKey(name))
                return UsageError($"Option '{name}' was given twice; Rayfleet must pass each flag once.");
            values[name] = value;
        }

        // Signals first: the record below tells tests the node is up, and a SIGTERM may follow at once.
        using var stop = new CancellationTokenSource();
        var ignoreTerm = Environment.GetEnvironmentVariable("RAYFLEET_STANDIN_IGNORE_SIGTERM") == "1";
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            if (ignoreTerm)
            {
                Say("SIGTERM received and ignored (RAYFLEET_STANDIN_IGNORE_SIGTERM=1).");
                return;
            }
            Say("SIGTERM received, shutting down.");
            stop.Cancel();
        });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
        {
            ctx.Cancel = true;
            stop.Cancel();
        });

        var head = values.ContainsKey("--head");
        Say($"pid {Environment.ProcessId}: ray start {string.Join(' ', args.Skip(1))}");
        WriteRecord(args);

        if (!head && !values.ContainsKey("--address"))
        {
            Say("ValueError: If --head is not passed in, --address must be provided.");
            return 1;
        }
        if (!head && values.ContainsKey("--port"))
        {
            Say("ValueError: If --head is not passed in, --port is not allowed.");
            return 1;
        }
        if (!head && values.TryGetValue("--temp-dir", out var ignoredTemp))
            Say($"`--temp-dir={ignoredTemp}` option will be ignored. `--head` is a required flag to use `--temp-dir`.");

        var ip = IPAddress.Parse(values.GetValueOrDefault("--node-ip-address", "127.0.0.1"));
        var listeners = new List<TcpListener>();
        TcpListener? dashboard = null;
        JobSubmission? jobs = null;
        try
        {
            if (head)
            {
                listeners.Add(Listen(ip, Port(values, "--port", 6379), "GCS"));
                var dashboardHost = values.GetValueOrDefault("--dashboard-host", "127.0.0.1");
                if (!values.TryGetValue("--include-dashboard", out var dash) || IsTrue(dash))
                {
                    dashboard = Listen(IPAddress.Parse(dashboardHost == "localhost" ? "127.0.0.1" : dashboardHost), Port(values, "--dashboard-port", 8265), "dashboard");
                    listeners.Add(dashboard);
                    jobs = new JobSubmission(new JobSettings(
                        NodeIp: ip.ToString(),
                        GcsPort: Port(values, "--port", 6379),
                        AgentPort: Port(values, "--dashboard-agent-listen-port", 52365),
                        LogDir: Path.Combine(values.GetValueOrDefault("--temp-dir", "/tmp/ray"), "session_latest", "logs"),
                        AgentDelay: AgentDelay()));
                    var served = jobs;
                    _ = Task.Run(() => MiniHttp.ServeAsync(dashboard, served.Handle, stop.Token));
                }
                listeners.Add(Listen(ip, Port(values, "--ray-client-server-port", 10001), "Ray client server"));
            }
            else
            {
                if (!ConnectToGcs(values["--address"], stop.Token)) return 1;
            }
            listeners.Add(Listen(ip, Port(values, "--dashboard-agent-listen-port", 52365), "dashboard agent"));
        }
        catch (SocketException ex)
        {
            Say($"Failed to bind: {ex.Message}");
            return 1;
        }
        foreach (var listener in listeners.Where(l => l != dashboard))
            _ = Task.Run(() => HoldConnectionsAsync(listener, stop.Token));

        if (!values.ContainsKey("--block"))
        {
            Say("Started (no --block given): exiting, as ray start does.");
            return 0;
        }

        if (Environment.GetEnvironmentVariable("RAYFLEET_STANDIN_CRASH_AFTER_SECONDS") is { } crash
            && double.TryParse(crash, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            var code = int.TryParse(Environment.GetEnvironmentVariable("RAYFLEET_STANDIN_CRASH_EXIT_CODE"), CultureInfo.InvariantCulture, out var c) ? c : 1;
            _ = Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(seconds), CancellationToken.None);
                Say($"Crashing on purpose with exit code {code} (RAYFLEET_STANDIN_CRASH_AFTER_SECONDS={crash}).");
                Environment.Exit(code);
            });
        }

        Say(head ? "Ray runtime started (stand-in head)." : "Ray runtime started (stand-in worker).");
        stop.Token.WaitHandle.WaitOne();
        foreach (var listener in listeners) listener.Stop();
        // Ray's jobs die with their head; none may outlive the stand-in.
        jobs?.StopAll(TimeSpan.FromSeconds(2));
        Say("Stopped.");
        return 0;
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine("Usage: ray start [OPTIONS]");
        Console.Error.WriteLine("Try 'ray start --help' for help.");
        Console.Error.WriteLine();
        Console.Error.WriteLine($"Error: {message} {Tag}");
        return 2;
    }

    private static void Say(string line) => Console.Out.WriteLine($"{Tag} {line}");

    private static bool IsBool(string v) => IsTrue(v) || v.ToLowerInvariant() is "false" or "0" or "no" or "n" or "f" or "off";

    private static bool IsTrue(string v) => v.ToLowerInvariant() is "true" or "1" or "yes" or "y" or "t" or "on";

    private static int Port(Dictionary<string, string> values, string name, int fallback) =>
        values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static TcpListener Listen(IPAddress ip, int port, string what)
    {
        var listener = new TcpListener(ip, port);
        listener.Start();
        Say($"{what} listening on {ip}:{port}");
        return listener;
    }

    private static bool ConnectToGcs(string address, CancellationToken ct)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], CultureInfo.InvariantCulture, out var port))
        {
            Say($"ValueError: --address '{address}' is not host:port.");
            return false;
        }
        var host = address[..colon];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(host, port);
                Say($"Connected to the GCS at {address}.");
                return true;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
            }
            catch (SocketException ex)
            {
                Say($"ConnectionError: unable to connect to the GCS at {address}: {ex.Message}");
                return false;
            }
        }
        return false;
    }

    private static async Task HoldConnectionsAsync(TcpListener listener, CancellationToken ct)
    {
        // GCS, client server and agent ports: accept and keep connections until the peer goes.
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var buffer = new byte[256];
                        try
                        {
                            while (await client.GetStream().ReadAsync(buffer, ct) > 0)
                            {
                            }
                        }
                        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
                        {
                        }
                    }
                }, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
    }

    /// <summary>
    /// How long after start the head's job agent is "not there yet" (POST /api/jobs/ answers 500 No available agent).
    /// Nonzero by default, as with a real head, so that every caller's retry path runs.
    /// </summary>
    private static TimeSpan AgentDelay() =>
        double.TryParse(Environment.GetEnvironmentVariable("RAYFLEET_STANDIN_AGENT_DELAY_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromSeconds(0.5);

    private static void WriteRecord(string[] args)
    {
        // Next to the log that stdout goes to, so tests can read what this node was started with.
        string directory, name;
        try
        {
            var target = File.ResolveLinkTarget("/proc/self/fd/1", returnFinalTarget: false)?.FullName;
            if (target is null || !File.Exists(target)) return;
            directory = Path.GetDirectoryName(target)!;
            name = Path.GetFileNameWithoutExtension(target);
        }
        catch (IOException)
        {
            return;
        }
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
        var record = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["pid"] = Environment.ProcessId,
            ["argv"] = args,
            ["env"] = new SortedDictionary<string, string>(env, StringComparer.Ordinal),
        });
        var path = Path.Combine(directory, name + ".standin.json");
        File.WriteAllText(path + ".tmp", record);
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
