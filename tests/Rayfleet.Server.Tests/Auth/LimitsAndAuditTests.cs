using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Auth;

public sealed class LimitsAndAuditTests
{
    [Fact]
    public async Task An_access_key_over_its_rate_is_throttled_with_retry_headers()
    {
        using var host = new RayfleetHost(settings: new Dictionary<string, string?>
        {
            ["Rayfleet:Security:RateLimit:BurstSize"] = "3",
            ["Rayfleet:Security:RateLimit:RequestsPerSecond"] = "1",
        });
        var api = host.Api();
        var statuses = new List<ApiResponse>();
        for (var i = 0; i < 10; i++) statuses.Add(await api.GetAsync("/api/v1/releaseVersions"));
        Assert.All(statuses.Take(3), r => Assert.Equal(HttpStatusCode.OK, r.Status));
        var throttled = statuses.First(r => r.Status == HttpStatusCode.TooManyRequests);
        Assert.Equal("Throttling.User", throttled.Code);
        Assert.True(int.Parse(throttled.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        Assert.True(long.Parse(throttled.Headers.GetValues("x-acs-retry-after").Single(), System.Globalization.CultureInfo.InvariantCulture) > 0);

        // Another key has its own bucket.
        var other = await host.AddPrincipalAsync("other", admin: true);
        (await host.Api(other).GetAsync("/api/v1/releaseVersions")).EnsureOk();
    }

    [Fact]
    public async Task A_change_and_its_audit_row_commit_together_and_a_failed_change_leaves_no_row()
    {
        using var host = new RayfleetHost();
        var api = host.Api();
        var ws = await api.DefaultWorkspaceAsync();
        var ok = (await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", new { name = "audited", headSpec = new { cpu = "1", memory = "4Gi" } })).EnsureOk();
        var okRequestId = ok.Headers.GetValues("x-acs-request-id").Single();
        var bad = await api.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", new { name = "broken", headSpec = new { cpu = "0", memory = "4Gi" } });
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        var badRequestId = bad.Headers.GetValues("x-acs-request-id").Single();

        var rows = await host.AuditRowsAsync();
        var row = Assert.Single(rows, r => r.RequestId == okRequestId);
        Assert.Equal("emr-serverless-spark:CreateRayCluster", row.Action);
        Assert.Equal("Success", row.Outcome);
        Assert.Equal(ws, row.WorkspaceId);
        Assert.Equal("p-admin", row.PrincipalId);
        Assert.Equal(RayfleetHost.AdminKey.Id, row.AccessKeyId);
        Assert.DoesNotContain(rows, r => r.RequestId == badRequestId);

        // A failed authentication is recorded too.
        var unsigned = await host.UnsignedClient().GetAsync("/api/v1/workspaces");
        var failedId = unsigned.Headers.GetValues("x-acs-request-id").Single();
        Assert.Contains(await host.AuditRowsAsync(), r => r.RequestId == failedId && r.Outcome == "IncompleteSignature" && r.Action == "Authenticate");

        // The admin route reads it, filtered and paged newest first.
        var page = (await api.GetAsync("/api/v1/admin/audit?action=CreateRayCluster&pageSize=1")).EnsureOk().Json;
        Assert.Equal(okRequestId, page["events"]![0]!["requestId"]!.GetValue<string>());
        Assert.Null(page["nextToken"]);
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public readonly ConcurrentQueue<string> Lines = new();

        public ILogger CreateLogger(string categoryName) => new Capturing(this);

        public void Dispose()
        {
        }

        private sealed class Capturing(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue(formatter(state, exception) + " " + exception + " " + JsonSerializer.Serialize(state?.ToString()));
        }
    }

    [Fact]
    public async Task Secrets_never_appear_in_logs_audit_rows_or_responses()
    {
        var logs = new CapturingLoggerProvider();
        using var host = new RayfleetHost(
            settings: new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace" },
            services: s => s.AddSingleton<ILoggerProvider>(logs));
        var admin = host.Api();
        var ws = await admin.DefaultWorkspaceAsync();

        var principal = (await admin.PostAsync("/api/v1/admin/principals", new { name = "bob" })).EnsureOk().Json["principalId"]!.GetValue<string>();
        var created = (await admin.PostAsync($"/api/v1/admin/principals/{principal}/accessKeys")).EnsureOk().Json;
        var secret = created["accessKeySecret"]!.GetValue<string>();
        var keyId = created["accessKeyId"]!.GetValue<string>();
        (await admin.PostAsync($"/api/v1/workspaces/{ws}/members", new { principalId = principal, role = "developer" })).EnsureOk();

        var bob = host.Api(new Rayfleet.Core.Signing.AccessKey(keyId, secret));
        const string redis = "redis-pa55word-never-shown";
        var clusterId = (await bob.PostAsync($"/api/v1/workspaces/{ws}/rayCluster", new
        {
            name = "gft",
            headSpec = new { cpu = "1", memory = "4Gi", gftEnabled = true, gftConfig = new { redisUrl = "10.0.0.1:6379", redisPassword = redis } },
        })).EnsureOk().Json["clusterId"]!.GetValue<string>();
        var forged = host.Api(new Rayfleet.Core.Signing.AccessKey(keyId, secret + "x"));
        Assert.Equal("SignatureDoesNotMatch", (await forged.GetAsync("/api/v1/workspaces")).Code);

        var responses = new List<string>
        {
            (await admin.GetAsync("/api/v1/admin/accessKeys")).Body,
            (await admin.GetAsync("/api/v1/admin/principals")).Body,
            (await admin.GetAsync("/api/v1/admin/audit?pageSize=500")).Body,
            (await bob.GetAsync($"/api/v1/workspaces/{ws}/rayCluster/{clusterId}")).Body,
            (await bob.GetAsync($"/api/v1/workspaces/{ws}/rayCluster")).Body,
        };
        Assert.Contains("******", responses[3], StringComparison.Ordinal);
        var audit = JsonSerializer.Serialize(await host.AuditRowsAsync());
        Assert.Contains(keyId, audit, StringComparison.Ordinal); // the id may appear; the secret may not
        Assert.NotEmpty(logs.Lines);
        foreach (var text in responses.Append(audit).Concat(logs.Lines))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(redis, text, StringComparison.Ordinal);
            Assert.DoesNotContain(RayfleetHost.AdminKey.Secret, text, StringComparison.Ordinal);
        }
    }
}
