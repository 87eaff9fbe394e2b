using Rayfleet.Core.Signing;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Tests.Support;

/// <summary>
/// The service as a real process of its own (the built Rayfleet.Server next to the tests), so that a test can SIGKILL
/// it while its Ray nodes run and start it again on the same data folder.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServiceProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Address { get; }
    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <param name="settings">Command-line settings (<c>Rayfleet:DataDirectory</c> and so on).</param>
    /// <param name="workingDirectory">Where the service is started from; the test folder by default.</param>
    /// <param name="environment">Variables to set for the service (a null value removes one).</param>
    public static async Task<ServiceProcess> StartAsync(
        IDictionary<string, string?> settings, string? workingDirectory = null, IDictionary<string, string?>? environment = null)
    {
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        var start = StartInfo(workingDirectory ?? AppContext.BaseDirectory, environment);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.ToString().TrimEnd('/'));
        foreach (var (key, value) in settings) start.ArgumentList.Add($"--{key}={value}");
        // The same admin key as the in-process host, so that Client() can sign for it.
        start.ArgumentList.Add($"--Rayfleet:Security:BootstrapAccessKeyId={RayfleetHost.AdminKey.Id}");
        start.ArgumentList.Add($"--Rayfleet:Security:BootstrapAccessKeySecret={RayfleetHost.AdminKey.Secret}");
        var service = new ServiceProcess(Process.Start(start)!, address);

        using var http = Client(service.Address);
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (service._process.HasExited)
                throw new InvalidOperationException($"The service exited with code {service._process.ExitCode}:\n{service.Output}");
            try
            {
                if ((await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK) return service;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > end) throw new TimeoutException($"The service did not become ready:\n{service.Output}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System);
        }
    }

    /// <summary>
    /// Runs the service with <paramref name="arguments"/> and waits for it to exit by itself, for a start that must
    /// fail. A service that is still running at <paramref name="timeout"/> is killed and reported as such.
    /// </summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(
        IEnumerable<string> arguments, string workingDirectory, IDictionary<string, string?>? environment, TimeSpan timeout)
    {
        var start = StartInfo(workingDirectory, environment);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"The service was still running after {timeout}:\n{await stdout}\n{await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// <c>dotnet Rayfleet.Server.dll</c> from the build output next to the tests (the server and its appsettings.json
    /// are copied there), as an installed service is started.
    /// </summary>
    private static ProcessStartInfo StartInfo(string workingDirectory, IDictionary<string, string?>? environment)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Rayfleet.Server.dll"));
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) start.Environment.Remove(key);
            else start.Environment[key] = value;
        }
        return start;
    }

    /// <summary>A client of the service process, signing with the admin key on the system clock (the service's clock).</summary>
    public static HttpClient Client(Uri address) =>
        new(new Acs3SigningHandler(RayfleetHost.AdminKey, TimeProvider.System) { InnerHandler = new SocketsHttpHandler { UseProxy = false } })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(10),
        };

    /// <summary>Kills the service the hard way: no shutdown code of its own runs.</summary>
    public void Kill()
    {
        ProcFs.Signal(_process.Id, ProcFs.SigKill);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            ProcFs.Signal(_process.Id, ProcFs.SigTerm);
            if (!_process.WaitForExit(TimeSpan.FromSeconds(15))) _process.Kill();
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
