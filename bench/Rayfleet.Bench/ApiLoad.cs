using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Signing;

namespace Rayfleet.Bench;

/// <summary>
/// Closed-loop load on the API: each worker alternates CreateRayCluster and GetRayCluster (a 1:1 mix), the Get on a
/// cluster picked at random among those created so far by any worker, with the next request sent as soon as the
/// previous one is answered.
/// </summary>
public sealed class ApiLoad(HttpClient http, string workspaceId)
{
    private const int KeptErrorMessages = 5;

    private static readonly JsonSerializerOptions RequestJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    private readonly Uri _clusters = new($"/api/v1/workspaces/{workspaceId}/rayCluster", UriKind.Relative);
    private readonly ConcurrentQueue<string> _errorMessages = new();
    private readonly List<string> _created = [];
    private readonly Lock _createdLock = new();

    /// <summary>One HttpClient for the whole load, with a connection per worker and then some; signing when given a key.</summary>
    public static HttpClient CreateClient(Uri baseAddress, int concurrency, AccessKey? key)
    {
        var sockets = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency * 2,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        return new HttpClient(key is null ? sockets : new Acs3SigningHandler(key, TimeProvider.System) { InnerHandler = sockets })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    /// <summary>The body every create sends, with its own name: one head, one CPU worker group of two.</summary>
    internal static RayClusterRequest CreateBody(string name) => new()
    {
        Name = name,
        Description = "Rayfleet benchmark cluster",
        HeadSpec = new HeadSpecDto { Cpu = "2", Memory = "8Gi" },
        WorkerSpec = [new WorkerSpecDto { GroupName = "workers", WorkerType = "CPU", Replica = 2, Cpu = "4", Memory = "16Gi" }],
    };

    public async Task<ApiLoadResult> RunAsync(int concurrency, Window window, CancellationToken ct)
    {
        var workers = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Task.Run(() => WorkerAsync(i, window, ct), ct)));
        return new ApiLoadResult
        {
            Create = LatencyLog.Summarize(workers.Select(w => w.Create), window.Duration),
            Get = LatencyLog.Summarize(workers.Select(w => w.Get), window.Duration),
            CreateErrors = workers.Sum(w => w.CreateErrors),
            GetErrors = workers.Sum(w => w.GetErrors),
            ErrorSamples = [.. _errorMessages],
            ClustersCreated = _created.Count,
        };
    }

    private async Task<WorkerLog> WorkerAsync(int worker, Window window, CancellationToken ct)
    {
        var log = new WorkerLog();
        var random = new Random(worker);
        var creates = 0;
        for (var n = 0; window.IsOpen && !ct.IsCancellationRequested; n++)
        {
            var target = n % 2 == 1 ? PickCreated(random) : null;
            var create = target is null;
            var started = Stopwatch.GetTimestamp();
            var error = create
                ? await CreateAsync($"bench-{worker}-{creates++}", ct)
                : await GetAsync(target!, ct);
            var finished = Stopwatch.GetTimestamp();

            if (error is not null)
            {
                if (create) log.CreateErrors++;
                else log.GetErrors++;
                if (_errorMessages.Count < KeptErrorMessages) _errorMessages.Enqueue($"{(create ? "create" : "get")}: {error}");
            }
            else if (window.Counts(started, finished))
            {
                (create ? log.Create : log.Get).Add(finished - started);
            }
        }
        return log;
    }

    /// <summary>Null on success, else what went wrong.</summary>
    private async Task<string?> CreateAsync(string name, CancellationToken ct)
    {
        try
        {
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(CreateBody(name), RequestJson));
            content.Headers.ContentType = JsonMediaType;
            using var response = await http.PostAsync(_clusters, content, ct);
            if (response.StatusCode != HttpStatusCode.OK)
                return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
            var body = await response.Content.ReadFromJsonAsync<CreateRayClusterResponse>(ct);
            if (body?.ClusterId is not { Length: > 0 } id) return "200 without a clusterId";
            lock (_createdLock) _created.Add(id);
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }

    private async Task<string?> GetAsync(string clusterId, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"{_clusters}/{clusterId}", UriKind.Relative), ct);
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            return response.StatusCode == HttpStatusCode.OK ? null : $"{(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(body)}";
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }

    private string? PickCreated(Random random)
    {
        lock (_createdLock) return _created.Count == 0 ? null : _created[random.Next(_created.Count)];
    }

    private sealed class WorkerLog
    {
        public LatencyLog Create { get; } = new();
        public LatencyLog Get { get; } = new();
        public int CreateErrors { get; set; }
        public int GetErrors { get; set; }
    }
}

public sealed record ApiLoadResult
{
    public required LatencySummary Create { get; init; }
    public required LatencySummary Get { get; init; }
    /// <summary>Failed requests over the whole phase, warmup included.</summary>
    public int CreateErrors { get; init; }
    public int GetErrors { get; init; }
    public required IReadOnlyList<string> ErrorSamples { get; init; }
    /// <summary>Clusters created over the whole phase, warmup included.</summary>
    public int ClustersCreated { get; init; }
}
