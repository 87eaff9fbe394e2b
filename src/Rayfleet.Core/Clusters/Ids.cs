using System.Security.Cryptography;

namespace Rayfleet.Core.Clusters;

/// <summary>Identifier formats of semantics.md; every random part comes from a cryptographic RNG.</summary>
public static class Ids
{
    private const string Hex = "0123456789abcdef";
    private const string Alnum = "abcdefghijklmnopqrstuvwxyz0123456789";

    public static string Workspace() => "w-" + RandomNumberGenerator.GetString(Hex, 16);
    /// <summary>A Ray job's submission id, also Ray's own <c>submission_id</c>; in creation order, as <see cref="Cluster"/>.</summary>
    public static string Job() => "rj-" + TimeOrdered();

    /// <summary>
    /// <c>ray-</c> and 16 of <c>[a-z0-9]</c>, of which the first 8 count milliseconds since 2020 (until 2109) and the
    /// last 8 are random: ids made one after another sort one after another, so a new cluster's row goes to the end of
    /// every index keyed by its id (a commit of many creates writes a few shared pages, not one random page each).
    /// </summary>
    public static string Cluster() => "ray-" + TimeOrdered();
    public static string Instance(string clusterId) => clusterId + "-" + RandomNumberGenerator.GetString(Alnum, 8);
    public static string HeadNode(string clusterId) => clusterId + "-head-" + RandomNumberGenerator.GetString(Alnum, 5);

    public static string WorkerNode(string clusterId, string groupName) =>
        clusterId + "-" + groupName.ToLowerInvariant() + "-" + RandomNumberGenerator.GetString(Alnum, 5);

    public static string NetworkService() => "ns-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Volume() => "vol-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Operation() => "op-" + RandomNumberGenerator.GetString(Hex, 16);
    public static string Request() => Guid.NewGuid().ToString("D").ToUpperInvariant();
    private const long Epoch2020 = 1_577_836_800_000;
    private static long _lastMs;

    /// <summary>
    /// 8 characters of time and 8 random ones (41 bits). The time part never repeats in one process (an id made in
    /// the same millisecond as the one before takes the next millisecond), so two ids of one process never collide;
    /// ids of different processes differ in their random part.
    /// </summary>
    private static string TimeOrdered()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - Epoch2020;
        long ms;
        do
        {
            var last = Interlocked.Read(ref _lastMs);
            ms = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref _lastMs, ms, last) == last) break;
        }
        while (true);
        Span<char> id = stackalloc char[16];
        for (var i = 7; i >= 0; i--)
        {
            id[i] = Base36[(int)(ms % 36)];
            ms /= 36;
        }
        RandomNumberGenerator.GetItems(Alnum, id[8..]);
        return new string(id);
    }

    private const string Base36 = "0123456789abcdefghijklmnopqrstuvwxyz";

    public static string SubmitToken() => RandomNumberGenerator.GetString(Hex, 32);
}
