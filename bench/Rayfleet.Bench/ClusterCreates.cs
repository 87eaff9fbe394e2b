using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Bench;

/// <summary>
/// Many CreateRayCluster calls (ApiLoad's body: a head and a CPU worker group of two) from closed-loop clients, each
/// taking the next number, with a progress line every few seconds; and a census of the clusters' states through
/// ListRayCluster pageSize=100 pages.
/// </summary>
public static class ClusterCreates
{
    public const int CensusPageSize = 100;
    private const int KeptErrorMessages = 5;
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(5);
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };
    private static readonly JsonSerializerOptions RequestJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The rate is the calls over the time from the first send to the last answer.</summary>
    public static async Task<CreateFigures> RunAsync(HttpClient http, string clusters, int count, int concurrency, string namePrefix, CancellationToken ct)
    {
        var ids = new ConcurrentBag<string>();
        var errors = new ConcurrentQueue<string>();
        var errorCount = 0;
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        using var progressStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var progress = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await Task.Delay(ProgressEvery, progressStop.Token);
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "  {0,6:0.0} s: {1}/{2} created",
                        Stopwatch.GetElapsedTime(started).TotalSeconds, ids.Count, count));
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        var logs = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var log = new LatencyLog();
            for (var n = Interlocked.Increment(ref next); n < count; n = Interlocked.Increment(ref next))
            {
                var sent = Stopwatch.GetTimestamp();
                var error = await CreateOneAsync(http, clusters, $"{namePrefix}-{n:000000}", ids, ct);
                if (error is null)
                {
                    log.Add(Stopwatch.GetTimestamp() - sent);
                    continue;
                }
                Interlocked.Increment(ref errorCount);
                if (errors.Count < KeptErrorMessages) errors.Enqueue(error);
            }
            return log;
        }, ct)));
        var finished = Stopwatch.GetTimestamp();
        await progressStop.CancelAsync();
        await progress;
        var elapsed = Stopwatch.GetElapsedTime(started, finished);
        return new CreateFigures([.. ids], LatencyLog.Summarize(logs, elapsed), errorCount, [.. errors], finished, elapsed.TotalSeconds);
    }

    /// <summary>Every cluster of the workspace, counted by state, and the totalCount of the first page.</summary>
    public static async Task<Census> CountStatesAsync(HttpClient http, string clusters, CancellationToken ct)
    {
        var states = new Dictionary<string, int>(StringComparer.Ordinal);
        var messages = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = 0;
        var total = 0;
        for (var page = 1; ; page++)
        {
            var list = await http.GetFromJsonAsync<ListRayClusterResponse>(new Uri($"{clusters}?pageNum={page}&pageSize={CensusPageSize}", UriKind.Relative), ct)
                       ?? throw new BenchFailedException($"GET {clusters} answered an empty body.");
            if (page == 1) total = list.TotalCount;
            foreach (var c in list.RayClusters)
            {
                states[c.State] = states.GetValueOrDefault(c.State) + 1;
                if (c.State != "Running" && c.Message is { Length: > 0 } m) messages[m] = messages.GetValueOrDefault(m) + 1;
            }
            seen += list.RayClusters.Count;
            if (list.RayClusters.Count < CensusPageSize || seen >= total) return new Census(total, states, messages);
        }
    }

    private static async Task<string?> CreateOneAsync(HttpClient http, string clusters, string name, ConcurrentBag<string> ids, CancellationToken ct)
    {
        try
        {
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(ApiLoad.CreateBody(name), RequestJson));
            content.Headers.ContentType = JsonMediaType;
            using var response = await http.PostAsync(new Uri(clusters, UriKind.Relative), content, ct);
            if (response.StatusCode != HttpStatusCode.OK) return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
            var body = await response.Content.ReadFromJsonAsync<CreateRayClusterResponse>(ct);
            if (body?.ClusterId is not { Length: > 0 } id) return "200 without a clusterId";
            ids.Add(id);
            return null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }
}

/// <param name="FinishedAt">Stopwatch timestamp of the last answer.</param>
public sealed record CreateFigures(
    List<string> Ids, LatencySummary Summary, int Errors, List<string> ErrorSamples, long FinishedAt, double Seconds);

/// <param name="Messages">How many clusters not yet Running say each message: what they wait for.</param>
public sealed record Census(int Total, Dictionary<string, int> States, Dictionary<string, int> Messages)
{
    public int Count(string state) => States.GetValueOrDefault(state);

    public override string ToString() =>
        string.Join(", ", States.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}"));

    /// <summary>The most common message of the clusters not yet Running, with its count; empty when all run.</summary>
    public string Waiting =>
        Messages.Count == 0 ? "" : Messages.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Value} say \"{kv.Key}\"").First();
}
