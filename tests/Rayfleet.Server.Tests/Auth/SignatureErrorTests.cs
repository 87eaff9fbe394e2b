using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Auth;

public sealed class SignatureErrorTests
{
    private static async Task<(HttpStatusCode Status, string? Code)> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        using (request)
        using (var response = await client.SendAsync(request))
        {
            var body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, JsonNode.Parse(body)?["Code"]?.GetValue<string>());
        }
    }

    private static Uri Url(HttpClient client, string path) => new(client.BaseAddress!, path);

    [Fact]
    public async Task A_request_without_or_with_a_malformed_Authorization_header_is_IncompleteSignature()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        Assert.Equal((HttpStatusCode.BadRequest, "IncompleteSignature"), await SendAsync(client, new HttpRequestMessage(HttpMethod.Get, "/api/v1/workspaces")));

        var request = CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, host.Clock.GetUtcNow());
        var auth = request.Headers.GetValues("Authorization").Single();
        request.Headers.Remove("Authorization");
        request.Headers.TryAddWithoutValidation("Authorization", auth.Replace(",Signature=", ",Sig=", StringComparison.Ordinal));
        Assert.Equal((HttpStatusCode.BadRequest, "IncompleteSignature"), await SendAsync(client, request));
    }

    [Fact]
    public async Task An_unknown_access_key_is_InvalidAccessKeyId_NotFound_and_a_disabled_one_Inactive()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var unknown = new AccessKey("RFAKNOSUCHKEY0000000000", "whatever-secret-0000000000");
        Assert.Equal((HttpStatusCode.NotFound, "InvalidAccessKeyId.NotFound"),
            await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, unknown, host.Clock.GetUtcNow())));

        var key = await host.AddPrincipalAsync("alice");
        var admin = host.Api();
        (await admin.PostAsync($"/api/v1/admin/accessKeys/{key.Id}/disable")).EnsureOk();
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidAccessKeyId.Inactive"),
            await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, key, host.Clock.GetUtcNow())));
        (await admin.PostAsync($"/api/v1/admin/accessKeys/{key.Id}/enable")).EnsureOk();
        Assert.Equal(HttpStatusCode.OK,
            (await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, key, host.Clock.GetUtcNow()))).Status);
    }

    [Theory]
    [InlineData(-14, HttpStatusCode.OK, null)]
    [InlineData(14, HttpStatusCode.OK, null)]
    [InlineData(-16, HttpStatusCode.BadRequest, "InvalidTimeStamp.Expired")]
    [InlineData(16, HttpStatusCode.BadRequest, "InvalidTimeStamp.Expired")]
    public async Task The_date_may_be_up_to_15_minutes_off_either_way(int minutes, HttpStatusCode status, string? code)
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var result = await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey,
            host.Clock.GetUtcNow().AddMinutes(minutes)));
        Assert.Equal((status, code), result);
    }

    [Fact]
    public async Task A_badly_formatted_date_is_InvalidTimeStamp_Format()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var request = CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, host.Clock.GetUtcNow(),
            extraHeaders: new Dictionary<string, string>());
        // Re-sign with a date in another format: the format check comes before the signature check.
        request.Headers.Remove("x-acs-date");
        request.Headers.TryAddWithoutValidation("x-acs-date", host.Clock.GetUtcNow().ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidTimeStamp.Format"), await SendAsync(client, request));
    }

    [Fact]
    public async Task A_body_that_does_not_match_x_acs_content_sha256_is_refused()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var ws = await host.Api().DefaultWorkspaceAsync();
        var request = CustomSigner.Build(HttpMethod.Post, Url(client, $"/api/v1/workspaces/{ws}/rayCluster"), "{\"name\":\"a\"}", RayfleetHost.AdminKey,
            host.Clock.GetUtcNow(), hashOverride: Acs3Signature.HexSha256("{\"name\":\"b\"}"));
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidContentSha256"), await SendAsync(client, request));
    }

    [Fact]
    public async Task Headers_signed_beyond_the_CSharp_clients_set_are_verified_from_SignedHeaders()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var extra = new Dictionary<string, string> { ["user-agent"] = "aliyun-python-sdk/2.0", ["accept"] = "application/json", ["x-custom-trace"] = "abc" };
        Assert.Equal((HttpStatusCode.OK, null),
            await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, host.Clock.GetUtcNow(), extraHeaders: extra)));

        // The same signature with one of those headers changed in transit no longer verifies.
        var tampered = CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, host.Clock.GetUtcNow(), extraHeaders: extra);
        tampered.Headers.Remove("x-custom-trace");
        tampered.Headers.TryAddWithoutValidation("x-custom-trace", "abd");
        Assert.Equal((HttpStatusCode.BadRequest, "SignatureDoesNotMatch"), await SendAsync(client, tampered));
    }

    [Fact]
    public async Task A_replayed_nonce_is_SignatureNonceUsed_also_after_a_restart()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        try
        {
            var nonce = Guid.NewGuid().ToString("N");
            var date = clock.GetUtcNow();
            using (var first = new RayfleetHost(dataDirectory, clock))
            {
                var client = first.UnsignedClient();
                Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, date, nonce))).Status);
                Assert.Equal((HttpStatusCode.BadRequest, "SignatureNonceUsed"),
                    await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, date, nonce)));
            }
            clock.Advance(TimeSpan.FromMinutes(10));
            using var second = new RayfleetHost(dataDirectory, clock);
            var client2 = second.UnsignedClient();
            Assert.Equal((HttpStatusCode.BadRequest, "SignatureNonceUsed"),
                await SendAsync(client2, CustomSigner.Build(HttpMethod.Get, Url(client2, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, date, nonce)));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            RayfleetHost.TryDelete(dataDirectory);
        }
    }

    [Fact]
    public async Task A_nonce_used_on_one_process_of_a_store_is_refused_by_another_that_already_holds_its_ledger()
    {
        using var first = new RayfleetHost();
        using var second = new RayfleetHost(first.DataDirectory, first.Clock);
        var client1 = first.UnsignedClient();
        var client2 = second.UnsignedClient();
        // Both ledgers have read the log before the nonce is used.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client2, CustomSigner.Build(HttpMethod.Get, Url(client2, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, first.Clock.GetUtcNow()))).Status);

        var nonce = Guid.NewGuid().ToString("N");
        var date = first.Clock.GetUtcNow();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client1, CustomSigner.Build(HttpMethod.Get, Url(client1, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, date, nonce))).Status);
        Assert.Equal((HttpStatusCode.BadRequest, "SignatureNonceUsed"),
            await SendAsync(client2, CustomSigner.Build(HttpMethod.Get, Url(client2, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, date, nonce)));
    }

    [Fact]
    public async Task Expired_nonces_leave_memory_and_the_store_and_what_is_left_is_still_refused()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        var ledger = host.Services.GetRequiredService<Rayfleet.Server.Auth.NonceLedger>();
        var old = Guid.NewGuid().ToString("N");
        var oldDate = host.Clock.GetUtcNow();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, oldDate, old))).Status);
        Assert.Equal(1, ledger.Count);

        // 31 minutes on, the first nonce has expired (its request's date is out of the window anyway).
        host.Clock.Advance(TimeSpan.FromMinutes(31));
        var recent = Guid.NewGuid().ToString("N");
        var recentDate = host.Clock.GetUtcNow();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, recentDate, recent))).Status);
        Assert.Equal(1, ledger.Count);
        Assert.Equal((HttpStatusCode.BadRequest, "SignatureNonceUsed"),
            await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, recentDate, recent)));
        Assert.Equal((HttpStatusCode.BadRequest, "InvalidTimeStamp.Expired"),
            await SendAsync(client, CustomSigner.Build(HttpMethod.Get, Url(client, "/api/v1/workspaces"), null, RayfleetHost.AdminKey, oldDate, old)));

        // The purge runs in its own unit after the request that found it due; the expired row is gone from the log.
        await Wall.UntilAsync(async () =>
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<Rayfleet.Server.Persistence.RayfleetDbContext>();
            return await db.Nonces.CountAsync() == 1;
        }, "the expired nonce is purged from the log");
    }

    [Fact]
    public async Task Health_OpenAPI_and_docs_need_no_signature_but_the_api_does()
    {
        using var host = new RayfleetHost();
        var client = host.UnsignedClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/v1/releaseVersions")).StatusCode);
    }
}
