using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Jobs;
using Rayfleet.Server.Jobs.Logs;
using Rayfleet.Server.Tests.Api;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Jobs.Logs;

/// <summary>The jobs a test says exist; the real job table is not part of these tests.</summary>
public sealed class FakeJobDirectory : IJobDirectory
{
    private readonly ConcurrentDictionary<(string, string), bool> _jobs = new();

    public void Add(string workspaceId, string submissionId) => _jobs[(workspaceId, submissionId)] = true;

    public Task<bool> ExistsAsync(string workspaceId, string submissionId, CancellationToken ct) =>
        Task.FromResult(_jobs.ContainsKey((workspaceId, submissionId)));
}

/// <summary>A host with one job in the default workspace, its log store, and helpers to fill it and call the log routes.</summary>
public sealed class LogTestHost : IDisposable
{
    public const string Job = "rj-k7nm8ahl5te4tg91";

    private LogTestHost(RayfleetHost host, FakeJobDirectory jobs, string workspaceId)
    {
        Host = host;
        Jobs = jobs;
        WorkspaceId = workspaceId;
        Api = host.Api();
    }

    public RayfleetHost Host { get; }
    public FakeJobDirectory Jobs { get; }
    public string WorkspaceId { get; }
    public ApiClient Api { get; }
    public LogStore Store => Host.Services.GetRequiredService<LogStore>();

    /// <summary>The job's folder as ListRayLogs shows it: <c>/w-…/ray/logs/rj-…/</c>.</summary>
    public string Folder => "/" + Store.JobPrefix(WorkspaceId, Job);

    public string Routes(string submissionId = Job) => $"/api/interactive/v1/workspace/{WorkspaceId}/ray/{submissionId}";

    public static async Task<LogTestHost> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var jobs = new FakeJobDirectory();
        var host = new RayfleetHost(settings: settings, services: s => s.AddSingleton<IJobDirectory>(jobs));
        var workspaceId = await host.Api().DefaultWorkspaceAsync();
        jobs.Add(workspaceId, Job);
        return new LogTestHost(host, jobs, workspaceId);
    }

    public async Task WriteAsync(string relativeName, string text, string submissionId = Job)
    {
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(text));
        await Store.ReplaceAsync(WorkspaceId, submissionId, relativeName, content, CancellationToken.None);
    }

    public Task<RawResponse> ListAsync(string query = "", string submissionId = Job) =>
        Wire.RawGetAsync(Api, Routes(submissionId) + "/logs" + (query.Length > 0 ? "?" + query : ""));

    public Task<RawResponse> GetLogAsync(string query, string submissionId = Job) =>
        Wire.RawGetAsync(Api, Routes(submissionId) + "/log?" + query);

    /// <summary>GetRayLog for a file of the job (a path relative to its folder): the accessUrl.</summary>
    public async Task<string> AccessUrlAsync(string relativeName)
    {
        var response = (await GetLogAsync("path=" + Uri.EscapeDataString(Folder + relativeName))).EnsureOk();
        return response.Json["data"]!["accessUrl"]!.GetValue<string>();
    }

    public void Dispose() => Host.Dispose();
}
