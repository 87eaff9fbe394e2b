using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs;

/// <summary>
/// The stand-in's Job API on the wire, where Rayfleet's client does not go: Ray's validation answers, DELETE, and
/// HTTP/1.1 framing (bodies by Content-Length, keep-alive, pipelining, close).
/// </summary>
public sealed class StandInJobApiTests
{
    private static async Task<string> ExchangeAsync(int port, params string[] writes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        foreach (var write in writes)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(write));
            await stream.FlushAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync(timeout.Token); // the server closes after the request that asks it to
    }

    private static string Post(string path, string body, string connection = "keep-alive") =>
        $"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: {connection}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";

    [Fact]
    public async Task A_body_split_across_writes_and_a_pipelined_request_are_answered_on_one_connection_until_close()
    {
        using var head = await StandInHead.StartAsync();
        var submit = Post("/api/jobs/", """{"entrypoint": "echo ü", "submission_id": "pipelined"}""");
        var split = submit.Length - 10;

        var answer = await ExchangeAsync(head.DashboardPort,
            submit[..split],
            submit[split..] + "GET /api/jobs/pipelined HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        var responses = answer.Split("HTTP/1.1 ", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, responses.Length);
        Assert.StartsWith("200 OK", responses[0], StringComparison.Ordinal);
        Assert.Contains("Connection: keep-alive", responses[0], StringComparison.Ordinal);
        Assert.EndsWith("""{"job_id":"pipelined","submission_id":"pipelined"}""", responses[0], StringComparison.Ordinal);
        Assert.StartsWith("200 OK", responses[1], StringComparison.Ordinal);
        Assert.Contains("Connection: close", responses[1], StringComparison.Ordinal);
        Assert.Contains("\"entrypoint\":\"echo ü\"", responses[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"submission_id": "x"}""", "missing 1 required positional argument: 'entrypoint'")]
    [InlineData("""{"entrypoint": "true", "priority": 1}""", "got an unexpected keyword argument 'priority'")]
    [InlineData("""{"entrypoint": ["true"]}""", "entrypoint must be a string, got <class 'list'>")]
    [InlineData("""{"entrypoint": "true", "entrypoint_memory": 1.5}""", "entrypoint_memory must be an integer, got <class 'float'>")]
    [InlineData("""{"entrypoint": "true", "metadata": {"a": 1}}""", "metadata values must be strings, got <class 'int'>")]
    public async Task A_submit_Ray_would_refuse_is_a_400_with_Rays_text(string body, string text)
    {
        using var head = await StandInHead.StartAsync();

        var answer = await ExchangeAsync(head.DashboardPort, Post("/api/jobs/", body, "close"));

        Assert.StartsWith("HTTP/1.1 400 Bad Request", answer, StringComparison.Ordinal);
        Assert.Contains("TypeError: ", answer, StringComparison.Ordinal);
        Assert.Contains(text, answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Null_members_are_dropped_and_a_duplicate_id_is_Rays_500()
    {
        using var head = await StandInHead.StartAsync();
        var body = """{"entrypoint": "true", "submission_id": "dup", "runtime_env": null, "entrypoint_num_cpus": null}""";

        Assert.StartsWith("HTTP/1.1 200 OK", await ExchangeAsync(head.DashboardPort, Post("/api/jobs/", body, "close")), StringComparison.Ordinal);
        var again = await ExchangeAsync(head.DashboardPort, Post("/api/jobs/", body, "close"));

        Assert.StartsWith("HTTP/1.1 500 Internal Server Error", again, StringComparison.Ordinal);
        Assert.Contains("Job with submission_id dup already exists. Please use a different submission_id.", again, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_refuses_a_running_job_and_removes_an_ended_one()
    {
        using var head = await StandInHead.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = head.Dashboard };
        using (var submit = await http.PostAsync("api/jobs/", new StringContent("""{"entrypoint": "sleep 20", "submission_id": "del"}""")))
            Assert.True(submit.IsSuccessStatusCode);

        using (var running = await http.DeleteAsync("api/jobs/del"))
        {
            Assert.Equal(500, (int)running.StatusCode);
            Assert.Contains("Attempted to delete job 'del', but it is in a non-terminal state RUNNING.", await running.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var stop = await http.PostAsync("api/jobs/del/stop", null))
            Assert.Equal("""{"stopped":true}""", await stop.Content.ReadAsStringAsync());
        await Wall.UntilAsync(async () => JsonNode.Parse(await http.GetStringAsync("api/jobs/del"))!["status"]!.GetValue<string>() == "STOPPED", "the job is stopped");

        using (var deleted = await http.DeleteAsync("api/jobs/del"))
            Assert.Equal("""{"deleted":true}""", await deleted.Content.ReadAsStringAsync());
        using var gone = await http.GetAsync("api/jobs/del");
        Assert.Equal(404, (int)gone.StatusCode);
        Assert.Equal("Job del does not exist", await gone.Content.ReadAsStringAsync());
        Assert.Equal("[]", await http.GetStringAsync("api/jobs/"));
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_without_being_read()
    {
        using var head = await StandInHead.StartAsync();

        var answer = await ExchangeAsync(head.DashboardPort, "POST /api/jobs/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{");

        Assert.StartsWith("HTTP/1.1 413", answer, StringComparison.Ordinal);
    }
}
