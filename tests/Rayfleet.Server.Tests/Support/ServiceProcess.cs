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

    public static async Task<ServiceProcess> StartAsync(IDictionary<string, string?> settings)
    {
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Rayfleet.Server"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // appsettings.json is copied next to the tests with the server; the content root is where it is read from.
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(address.ToString().TrimEnd('/'));
        foreach (var (key, value) in settings) start.ArgumentList.Add($"--{key}={value}");
        // The same admin key as the in-process host, so that Client() can sign for it.
        start.ArgumentList.Add($"--Rayfleet:Security:BootstrapAccessKeyId={RayfleetHost.AdminKey.Id}");
        start.ArgumentList.Add($"--Rayfleet:Security:BootstrapAccessKeySecret={RayfleetHost.AdminKey.Secret}");
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
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
