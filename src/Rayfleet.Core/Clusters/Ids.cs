using System.Security.Cryptography;

namespace Rayfleet.Core.Clusters;

/// <summary>Identifier formats of semantics.md; every random part comes from a cryptographic RNG.</summary>
public static class Ids
{
    private const string Hex = "0123456789abcdef";
    private const string Alnum = "abcdefghijklmnopqrstuvwxyz0123456789";

    public static string Workspace() => "w-" + RandomNumberGenerator.GetString(Hex, 16);
    /// <summary>A Ray job's submission id, also Ray's own <c>submission_id</c>.</summary>
    public static string Job() => "rj-" + RandomNumberGenerator.GetString(Alnum, 16);
    public static string Cluster() => "ray-" + RandomNumberGenerator.GetString(Alnum, 16);
    public static string Instance(string clusterId) => clusterId + "-" + RandomNumberGenerator.GetString(Alnum, 8);
    public static string HeadNode(string clusterId) => clusterId + "-head-" + RandomNumberGenerator.GetString(Alnum, 5);

    public static string WorkerNode(string clusterId, string groupName) =>
        clusterId + "-" + groupName.ToLowerInvariant() + "-" + RandomNumberGenerator.GetString(Alnum, 5);

    public static string NetworkService() => "ns-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Volume() => "vol-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Operation() => "op-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Request() => Guid.NewGuid().ToString("D").ToUpperInvariant();
    public static string SubmitToken() => RandomNumberGenerator.GetString(Hex, 32);
}
