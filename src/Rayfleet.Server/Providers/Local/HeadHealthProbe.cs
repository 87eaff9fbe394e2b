using System.Net.Sockets;

namespace Rayfleet.Server.Providers.Local;

/// <summary>
/// Asks a started head whether it is up: its dashboard's health route answers once the GCS is up, and a head started
/// without the dashboard is up when its GCS port accepts connections.
/// </summary>
internal sealed class HeadHealthProbe : IDisposable
{
    public const string HealthPath = "/api/gcs_healthz";

    // Loopback only: no proxy from the environment may stand between the service and its own heads.
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>Probes the head as the state places it (<see cref="LocalInstanceState.DashboardUrl"/>, or its GCS port when the dashboard is disabled).</summary>
    public async Task<bool> IsHealthyAsync(LocalInstanceState state, CancellationToken ct)
    {
        if (state.DashboardDisabled)
        {
            try
            {
                using var client = new TcpClient();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(1));
                await client.ConnectAsync(LocalProvider.NodeIp, state.Ports!.Gcs, timeout.Token);
                return true;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                return false;
            }
        }
        try
        {
            using var response = await _http.GetAsync(state.DashboardUrl + HealthPath, ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => _http.Dispose();
}
