using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Rayfleet.Core.Signing;
using Rayfleet.Server.Tests.Support;
using Rayfleet.Tests.Shared;

namespace Rayfleet.Server.Tests.Auth;

/// <summary>
/// The requests of acs3-signature.md, byte for byte as the official clients sent them, through a real socket: each
/// verifies, and a one-byte change to any signed part fails with SignatureDoesNotMatch.
/// </summary>
public sealed class CapturedRequestTests
{
    public sealed record Captured(
        string Name, string KeyId, string Secret, string Method, string Target, string Date, string Host,
        IReadOnlyList<(string Name, string Value)> Headers, string? Body, string SignedHeaders, string Signature,
        HttpStatusCode ExpectedStatus, string ExpectedCode);

    private const string Signed = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

    public static readonly TheoryData<string> Names = ["doc-example", "create", "list", "list-jobs-special-query", "get-special-path", "delete"];

    private static Captured Vector(string name) => name switch
    {
        "doc-example" => new(name, "YourAccessKeyId", "YourAccessKeySecret", "POST",
            "/?ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai", "2023-10-26T10:22:32Z",
            "ecs.cn-shanghai.aliyuncs.com",
            [("x-acs-action", "RunInstances"), ("x-acs-version", "2014-05-26"), ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d")],
            null, Signed, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0", HttpStatusCode.NotFound, "InvalidApi.NotFound"),
        "create" => new(name, "testAccessKeyId", "testAccessKeySecret", "POST", "/api/v1/workspaces/w-abc123/rayCluster", "2026-11-25T19:16:22Z",
            "127.0.0.1:18080",
            [("x-acs-action", "CreateRayCluster"), ("x-acs-version", "2023-08-08"), ("x-acs-signature-nonce", "6682ac15-0114-43be-853e-b5d2e974254f")],
            CapturedRequests.CreateRayClusterBody, "content-type;" + Signed,
            "ab7eb302c92e8c54baf460b6efb7f09eaee3321adf640ae69e3e67ddcdf7a686", HttpStatusCode.NotFound, "InvalidWorkspace.NotFound"),
        "list" => new(name, "testAccessKeyId", "testAccessKeySecret", "GET", "/api/v1/workspaces/w-abc123/rayCluster?pageNum=1&pageSize=20",
            "2026-11-25T19:17:09Z", "127.0.0.1:18080",
            [("x-acs-action", "ListRayCluster"), ("x-acs-version", "2023-08-08"), ("x-acs-signature-nonce", "c60ea5d8-3af4-4afc-bcd7-fb88bf8d470a")],
            null, Signed, "cc05a02eecde76cb14e45a794ed6af683a060e5724fab49dbc6d2ccfb7540d44", HttpStatusCode.NotFound, "InvalidWorkspace.NotFound"),
        "list-jobs-special-query" => new(name, "testAccessKeyId", "testAccessKeySecret", "GET",
            "/api/v1/workspaces/w-abc123/rayJob?name=my%20job%2F1%20%C3%A9%2A~%2B&pageSize=10&submitTime=%7B%22endTime%22%3A1700003600000%2C%22startTime%22%3A1700000000000%7D",
            "2026-11-25T19:17:09Z", "127.0.0.1:18080",
            [("x-acs-action", "ListRayJob"), ("x-acs-version", "2023-08-08"), ("x-acs-signature-nonce", "fdaf095b-64d9-4f20-80d8-dd265a7ded5b")],
            null, Signed, "a5a381cb97289197521324e4028d9002bf02fb46afb3b923737e587e3afc941b", HttpStatusCode.NotFound, "InvalidWorkspace.NotFound"),
        "get-special-path" => new(name, "testAccessKeyId", "testAccessKeySecret", "GET", "/api/v1/workspaces/w%20abc%2F1/rayCluster/ray%2Bx%2A~",
            "2026-11-25T19:17:09Z", "127.0.0.1:18080",
            [("x-acs-action", "GetRayCluster"), ("x-acs-version", "2023-08-08"), ("x-acs-signature-nonce", "6242bc29-33a4-4d1a-a9f5-f0e721833424")],
            null, Signed, "4b30d19f1eb3060d1a4d7be057bd977799b97c8dc8bd0f88a22f7c5109e49600", HttpStatusCode.NotFound, "InvalidWorkspace.NotFound"),
        "delete" => new(name, "testAccessKeyId", "testAccessKeySecret", "DELETE", "/api/v1/workspaces/w-abc123/rayCluster/ray-abc",
            "2026-11-25T19:17:09Z", "127.0.0.1:18080",
            [("x-acs-action", "DeleteRayCluster"), ("x-acs-version", "2023-08-08"), ("x-acs-signature-nonce", "b3efa764-13d0-4a03-8dc5-4082cdd453bc")],
            null, Signed, "da63788c012ce91d73b5864d8924a0a67de2279ca2e87889a0fb8a22853e31e6", HttpStatusCode.NotFound, "InvalidWorkspace.NotFound"),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>A captured request with an optional change; sent over a socket with the headers exactly as given.</summary>
    public static async Task<(HttpStatusCode Status, string? Code, string Body)> SendAsync(
        RayfleetHost host, Captured v, Func<string, string, string>? header = null, string? method = null, string? target = null, string? body = null)
    {
        using var client = host.UnsignedClient();
        var bodyText = body ?? v.Body;
        using var request = new HttpRequestMessage(new HttpMethod(method ?? v.Method), new Uri(client.BaseAddress!, target ?? v.Target));
        string H(string name, string value) => header?.Invoke(name, value) ?? value;
        request.Headers.Host = H("host", v.Host);
        foreach (var (name, value) in v.Headers) request.Headers.TryAddWithoutValidation(name, H(name, value));
        request.Headers.TryAddWithoutValidation("x-acs-date", H("x-acs-date", v.Date));
        var bodyBytes = bodyText is null ? [] : Encoding.UTF8.GetBytes(bodyText);
        var hash = v.Body is null ? Acs3Signature.EmptyBodyHash : Acs3Signature.HexSha256(Encoding.UTF8.GetBytes(bodyText!));
        request.Headers.TryAddWithoutValidation("x-acs-content-sha256", H("x-acs-content-sha256", hash));
        request.Headers.TryAddWithoutValidation("Authorization", $"ACS3-HMAC-SHA256 Credential={v.KeyId},SignedHeaders={v.SignedHeaders},Signature={v.Signature}");
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.UserAgent.ParseAdd("AlibabaCloud/0.1.20.0");
        if (bodyText is not null)
        {
            request.Content = new ByteArrayContent(bodyBytes);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(H("content-type", "application/json; charset=utf-8"));
        }
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        string? code = null;
        try
        {
            code = JsonNode.Parse(text)?["Code"]?.GetValue<string>();
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return (response.StatusCode, code, text);
    }

    public static async Task<RayfleetHost> HostForAsync(Captured v, string? dataDirectory = null)
    {
        var host = new RayfleetHost(dataDirectory, new FakeTimeProvider(DateTimeOffset.Parse(v.Date, System.Globalization.CultureInfo.InvariantCulture)), kestrel: true);
        await host.AddPrincipalAsync("vector-" + v.KeyId, admin: true, keyId: v.KeyId, secret: v.Secret);
        return host;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_captured_request_verifies_and_reaches_the_api(string name)
    {
        var v = Vector(name);
        using var host = await HostForAsync(v);
        var (status, code, body) = await SendAsync(host, v);
        Assert.True(status == v.ExpectedStatus && code == v.ExpectedCode, $"{(int)status} {body}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_one_byte_change_to_any_signed_part_fails_with_SignatureDoesNotMatch(string name)
    {
        var v = Vector(name);
        using var host = await HostForAsync(v);
        var changes = new List<(string What, Func<Task<(HttpStatusCode, string?, string)>> Send)>
        {
            ("method", () => SendAsync(host, v, method: v.Method == "GET" ? "PUT" : "GET")),
            ("path", () => SendAsync(host, v, target: FlipPath(v.Target))),
        };
        if (v.Target.Contains('?', StringComparison.Ordinal))
            changes.Add(("query", () => SendAsync(host, v, target: v.Target[..^1] + (v.Target[^1] == '0' ? '1' : '0'))));
        foreach (var signed in v.SignedHeaders.Split(';'))
        {
            if (signed == "x-acs-content-sha256") continue; // changing the hash alone is the body-hash check, tested apart
            changes.Add((signed, () => SendAsync(host, v, header: (n, value) => n == signed ? Flip(n, value) : value)));
        }
        if (v.Body is not null)
            changes.Add(("body", () => SendAsync(host, v, body: v.Body.Replace("probe cluster", "probe clustes", StringComparison.Ordinal))));

        foreach (var (what, send) in changes)
        {
            var (status, code, body) = await send();
            Assert.True(status == HttpStatusCode.BadRequest && code == "SignatureDoesNotMatch", $"change to {what}: {(int)status} {body}");
        }
        // And the untouched request still passes: nothing above consumed its nonce.
        var (okStatus, okCode, _) = await SendAsync(host, v);
        Assert.Equal(v.ExpectedCode, okCode);
        Assert.Equal(v.ExpectedStatus, okStatus);
    }

    private static string Flip(string header, string value) => header switch
    {
        // Keep the date well formed and inside the window: move it by one second.
        "x-acs-date" => value[..^3] + (value[^3] == '0' ? '1' : '0') + value[^2..],
        "content-type" => value.Replace("utf-8", "utf-9", StringComparison.Ordinal),
        "host" => value[..^1] + (value[^1] == '0' ? '1' : '0'),
        _ => value[..^1] + (value[^1] == 'a' ? 'b' : 'a'),
    };

    private static string FlipPath(string target)
    {
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? target : target[..q];
        var flipped = path == "/" ? "/x" : path[..^1] + (path[^1] == 'a' ? 'b' : 'a');
        return q < 0 ? flipped : flipped + target[q..];
    }
}
