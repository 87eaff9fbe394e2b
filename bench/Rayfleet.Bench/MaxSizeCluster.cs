using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Rayfleet.Core.Contracts;
using Rayfleet.Core.Clusters;

namespace Rayfleet.Bench;

/// <summary>
/// The largest cluster one CreateRayCluster may ask for, from the service's own limits (<see cref="ClusterRules"/>):
/// every group, extraParam at its limit, and env entries added group by group until the cluster's env and
/// rayStartParams together reach their cluster-wide limit.
/// </summary>
public static class MaxSizeCluster
{
    public const int WorkerGroups = ClusterRules.MaxWorkerGroups;
    public const int ReplicasPerGroup = 1;
    public const int EnvEntriesPerGroup = ClusterRules.MaxEnvVariables;
    public const int EnvValueBytes = 512;
    public const int ExtraParamBytes = ClusterRules.MaxExtraParamBytes - 64;
    public const int RayStartParamsPerGroup = 16;

    private static readonly JsonSerializerOptions RequestJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>The UTF-8 body of a create with this name: every field as large as the limits let it be together.</summary>
    public static byte[] CreateBody(string name) => JsonSerializer.SerializeToUtf8Bytes(Request(name, EnvPlan.Value), RequestJson);

    /// <summary>Env entries per group (head first), planned once.</summary>
    private static readonly Lazy<int[]> EnvPlan = new(() =>
    {
        var envEntries = new int[WorkerGroups + 1];
        var used = Enumerable.Range(0, envEntries.Length).Sum(g => RayStartParams(g).Length);
        var entryChars = EnvLine(0, 0).Length + 1;
        // Round-robin, one entry per group per round, so that every group carries env of about the same size.
        for (var added = true; added;)
        {
            added = false;
            for (var g = 0; g < envEntries.Length; g++)
            {
                if (envEntries[g] >= EnvEntriesPerGroup || (envEntries[g] + 1) * entryChars > ClusterRules.MaxEnvLength
                    || used + entryChars > ClusterRules.MaxClusterSettingsLength) continue;
                envEntries[g]++;
                used += entryChars;
                added = true;
            }
        }
        return envEntries;
    });

    private static RayClusterRequest Request(string name, int[] envEntries) => new()
    {
        Name = name,
        Description = new string('d', 256),
        ExtraParam = ExtraParam(),
        HeadSpec = new HeadSpecDto
        {
            Cpu = "2",
            Memory = "8Gi",
            Env = Env(0, envEntries[0]),
            RayStartParams = RayStartParams(0),
        },
        WorkerSpec = [.. Enumerable.Range(1, WorkerGroups).Select(g => new WorkerSpecDto
        {
            GroupName = $"group-{g:00}",
            WorkerType = "CPU",
            Replica = ReplicasPerGroup,
            MinReplica = ReplicasPerGroup,
            MaxReplica = ReplicasPerGroup,
            Cpu = "1",
            Memory = "4Gi",
            Env = Env(g, envEntries[g]),
            RayStartParams = RayStartParams(g),
        })],
    };

    /// <summary>A JSON document of about <see cref="ExtraParamBytes"/> that means nothing to any provider.</summary>
    private static string ExtraParam()
    {
        var text = new StringBuilder("{\"bench\":{");
        for (var i = 0; text.Length < ExtraParamBytes - 64; i++)
            text.Append(i == 0 ? "" : ",").Append("\"k").Append(i).Append("\":\"").Append(Filler(i, Math.Min(1024, ExtraParamBytes - 64 - text.Length))).Append('"');
        return text.Append("}}").ToString();
    }

    private static string? Env(int group, int entries) =>
        entries == 0 ? null : string.Join('\n', Enumerable.Range(0, entries).Select(i => EnvLine(group, i)));

    private static string EnvLine(int group, int entry) => $"BENCH_G{group:00}_E{entry:00}={Filler(group * 100 + entry, EnvValueBytes)}";

    private static string RayStartParams(int group) =>
        string.Join(' ', Enumerable.Range(0, RayStartParamsPerGroup).Select(i => $"--bench-flag-{group:00}-{i:00}=value-{i:00}"));

    /// <summary>Letters and digits only, so that the JSON on the wire is exactly as long as the text.</summary>
    private static string Filler(int seed, int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var chars = new char[Math.Max(0, length)];
        for (var i = 0; i < chars.Length; i++) chars[i] = alphabet[(seed * 31 + i * 7) % alphabet.Length];
        return new string(chars);
    }
}
