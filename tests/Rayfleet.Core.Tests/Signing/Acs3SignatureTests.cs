using Rayfleet.Core.Signing;
using Rayfleet.Tests.Shared;

namespace Rayfleet.Core.Tests.Signing;

/// <summary>The vectors of acs3-signature.md §5, computed by the shared implementation.</summary>
public sealed class Acs3SignatureTests
{
    private static KeyValuePair<string, string> H(string name, string value) => new(name, value);

    [Fact]
    public void The_documentation_example_gives_the_documented_signature()
    {
        var canonical = Acs3Signature.CanonicalRequest("POST", "/",
            "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai",
            [
                H("host", "ecs.cn-shanghai.aliyuncs.com"), H("x-acs-action", "RunInstances"), H("x-acs-version", "2014-05-26"),
                H("x-acs-date", "2023-10-26T10:22:32Z"), H("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
                H("x-acs-content-sha256", Acs3Signature.EmptyBodyHash),
            ],
            Acs3Signature.EmptyBodyHash);
        Assert.Equal("7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259", Acs3Signature.HexSha256(canonical));
        var signature = Acs3Signature.Sign("YourAccessKeySecret", Acs3Signature.StringToSign(canonical));
        Assert.Equal("06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0", signature);
        Assert.Equal(
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
            Acs3Signature.AuthorizationHeader("YourAccessKeyId", ["x-acs-version", "host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"], signature));
    }

    [Fact]
    public void The_captured_CreateRayCluster_body_hashes_and_signs_as_on_the_wire()
    {
        Assert.Equal(423, System.Text.Encoding.UTF8.GetByteCount(CapturedRequests.CreateRayClusterBody));
        Assert.Equal(CapturedRequests.CreateRayClusterBodyHash, Acs3Signature.HexSha256(CapturedRequests.CreateRayClusterBody));
        var canonical = Acs3Signature.CanonicalRequest("POST", "/api/v1/workspaces/w-abc123/rayCluster", "",
            [
                H("content-type", "application/json; charset=utf-8"), H("host", "127.0.0.1:18080"), H("x-acs-action", "CreateRayCluster"),
                H("x-acs-content-sha256", CapturedRequests.CreateRayClusterBodyHash), H("x-acs-date", "2026-11-25T19:16:22Z"),
                H("x-acs-signature-nonce", "6682ac15-0114-43be-853e-b5d2e974254f"), H("x-acs-version", "2023-08-08"),
            ],
            CapturedRequests.CreateRayClusterBodyHash);
        Assert.Equal("ACS3-HMAC-SHA256\ndfff018bef0981ce085da9254ab5650d13db0c1b22569894f67ea19e65ffc109", Acs3Signature.StringToSign(canonical));
        Assert.Equal("ab7eb302c92e8c54baf460b6efb7f09eaee3321adf640ae69e3e67ddcdf7a686", Acs3Signature.Sign("testAccessKeySecret", Acs3Signature.StringToSign(canonical)));
    }

    [Theory]
    [InlineData("GET", "/api/v1/workspaces/w-abc123/rayCluster", "pageNum=1&pageSize=20", "c60ea5d8-3af4-4afc-bcd7-fb88bf8d470a", "2026-11-25T19:17:09Z", "ListRayCluster", "cc05a02eecde76cb14e45a794ed6af683a060e5724fab49dbc6d2ccfb7540d44")]
    [InlineData("GET", "/api/v1/workspaces/w-abc123/rayJob", "name=my%20job%2F1%20%C3%A9%2A~%2B&pageSize=10&submitTime=%7B%22endTime%22%3A1700003600000%2C%22startTime%22%3A1700000000000%7D", "fdaf095b-64d9-4f20-80d8-dd265a7ded5b", "2026-11-25T19:17:09Z", "ListRayJob", "a5a381cb97289197521324e4028d9002bf02fb46afb3b923737e587e3afc941b")]
    [InlineData("GET", "/api/v1/workspaces/w%20abc%2F1/rayCluster/ray%2Bx%2A~", "", "6242bc29-33a4-4d1a-a9f5-f0e721833424", "2026-11-25T19:17:09Z", "GetRayCluster", "4b30d19f1eb3060d1a4d7be057bd977799b97c8dc8bd0f88a22f7c5109e49600")]
    [InlineData("DELETE", "/api/v1/workspaces/w-abc123/rayCluster/ray-abc", "", "b3efa764-13d0-4a03-8dc5-4082cdd453bc", "2026-11-25T19:17:09Z", "DeleteRayCluster", "da63788c012ce91d73b5864d8924a0a67de2279ca2e87889a0fb8a22853e31e6")]
    public void Captured_bodyless_requests_sign_as_on_the_wire(string method, string path, string query, string nonce, string date, string action, string expected)
    {
        var canonical = Acs3Signature.CanonicalRequest(method, path, query,
            [
                H("host", "127.0.0.1:18080"), H("x-acs-action", action), H("x-acs-content-sha256", Acs3Signature.EmptyBodyHash),
                H("x-acs-date", date), H("x-acs-signature-nonce", nonce), H("x-acs-version", "2023-08-08"),
            ],
            Acs3Signature.EmptyBodyHash);
        Assert.Equal(expected, Acs3Signature.Sign("testAccessKeySecret", Acs3Signature.StringToSign(canonical)));
    }

    [Theory]
    [InlineData("b=2&a=1", "a=1&b=2")]
    [InlineData("name=a+b", "name=a%2Bb")]
    [InlineData("name=%7e%2a", "name=~%2A")]
    [InlineData("flag", "flag=")]
    [InlineData("", "")]
    [InlineData("k=2&k=1", "k=1&k=2")]
    public void Canonical_query_is_sorted_and_RFC3986_encoded_whatever_the_wire_variant(string wire, string canonical) =>
        Assert.Equal(canonical, Acs3Signature.CanonicalQuery(wire));

    [Fact]
    public void Percent_encoding_keeps_only_the_unreserved_set() =>
        Assert.Equal("a-_.~%20%2A%2B%2F%C3%A9", Acs3Signature.PercentEncode("a-_.~ *+/é"));
}
