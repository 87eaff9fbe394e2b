using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rayfleet.Cli;

/// <summary>Where the CLI sends requests and with which key. Stored in ~/.rayfleet/config.json, owner-only.</summary>
public sealed record CliConfig
{
    [JsonPropertyName("endpoint")] public string? Endpoint { get; init; }
    [JsonPropertyName("accessKeyId")] public string? AccessKeyId { get; init; }
    [JsonPropertyName("accessKeySecret")] public string? AccessKeySecret { get; init; }

    public static string DefaultPath(IReadOnlyDictionary<string, string?> environment) =>
        environment.GetValueOrDefault("RAYFLEET_CONFIG")
        ?? Path.Combine(environment.GetValueOrDefault("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".rayfleet", "config.json");

    public static CliConfig Load(string path) =>
        File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), CliJson.Default.CliConfig) ?? new CliConfig() : new CliConfig();

    /// <summary>The file, overlaid by RAYFLEET_ENDPOINT, RAYFLEET_ACCESS_KEY_ID and RAYFLEET_ACCESS_KEY_SECRET.</summary>
    public static CliConfig Resolve(string path, IReadOnlyDictionary<string, string?> environment)
    {
        var config = Load(path);
        return config with
        {
            Endpoint = environment.GetValueOrDefault("RAYFLEET_ENDPOINT") ?? config.Endpoint,
            AccessKeyId = environment.GetValueOrDefault("RAYFLEET_ACCESS_KEY_ID") ?? config.AccessKeyId,
            AccessKeySecret = environment.GetValueOrDefault("RAYFLEET_ACCESS_KEY_SECRET") ?? config.AccessKeySecret,
        };
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
            JsonSerializer.Serialize(stream, this, CliJson.Default.CliConfig);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>The CLI's files, source-generated and indented for people who open them.</summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(CliConfig))]
internal sealed partial class CliJson : JsonSerializerContext;
