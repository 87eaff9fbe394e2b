using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Rayfleet.Core.Clusters;

/// <summary>One <c>ray start</c> option: a flag with its value, or a switch (no value) that is on.</summary>
public sealed record RayStartOption(string Name, string? Value)
{
    public bool IsSwitch => Value is null;
}

/// <summary>
/// The one meaning of a <c>rayStartParams</c> string, whatever runs it (README, "rayStartParams"). Words are separated by
/// whitespace; <c>'...'</c> quotes literally, <c>"..."</c> quotes with <c>\"</c> and <c>\\</c> as escapes, a backslash
/// outside quotes escapes the next character; nothing is expanded, so <c>$</c> and <c>`</c> must be single-quoted.
/// Each option is <c>--name=value</c>, <c>--name value</c> (for a flag Ray's <c>ray start</c> declares with a value) or
/// <c>--name</c> (a switch). A switch may be written <c>--name=true</c> or <c>--name=false</c>; false leaves it out.
/// Providers render the parsed options, never the text: the local provider as argv elements, the Kubernetes provider as
/// a KubeRay <c>rayStartParams</c> map that KubeRay's <c>bash -c</c> turns back into the same argv.
/// </summary>
public sealed partial class RayStartOptions
{
    /// <summary><c>ray start</c> options declared <c>is_flag</c> (python/ray/scripts/scripts.py); they take no value.</summary>
    public static readonly IReadOnlySet<string> Switches = new HashSet<string>(StringComparer.Ordinal)
    {
        "head", "block", "no-redirect-output", "enable-object-reconstruction", "no-monitor", "ray-debugger-external",
        "disable-usage-stats", "verbose", "enable-resource-isolation",
    };

    /// <summary><c>ray start</c> options that take a value; each may be written <c>--name value</c>.</summary>
    public static readonly IReadOnlySet<string> ValueFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "node-ip-address", "address", "port", "node-name", "redis-username", "redis-password", "redis-shard-ports",
        "object-manager-port", "node-manager-port", "gcs-server-port", "min-worker-port", "max-worker-port",
        "worker-port-list", "ray-client-server-port", "memory", "object-store-memory", "redis-max-memory", "num-cpus",
        "num-gpus", "resources", "include-dashboard", "dashboard-host", "dashboard-port", "dashboard-agent-listen-port",
        "dashboard-agent-grpc-port", "dashboard-grpc-port", "runtime-env-agent-port", "plasma-directory",
        "object-spilling-directory", "autoscaling-config", "plasma-store-socket-name", "raylet-socket-name", "temp-dir",
        "storage", "system-config", "metrics-export-port", "tracing-startup-hook", "labels", "labels-file",
        "include-log-monitor", "log-style", "log-color",
    };

    public static readonly RayStartOptions Empty = new([]);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]*\\z", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    private RayStartOptions(IReadOnlyList<RayStartOption> options) => Options = options;

    /// <summary>In the order given; each name at most once; switches given as false are left out.</summary>
    public IReadOnlyList<RayStartOption> Options { get; }

    public RayStartOption? Find(string name) => Options.FirstOrDefault(o => o.Name == name);

    /// <summary>Parses text that passed validation; anything else is a bug in the caller.</summary>
    public static RayStartOptions Parse(string? text) =>
        TryParse(text, int.MaxValue, out var options, out var error) ? options : throw new FormatException(error);

    /// <summary>The options of <paramref name="text"/>, or the first reason it has no single meaning.</summary>
    public static bool TryParse(string? text, int maxFlags, out RayStartOptions options, out string? error)
    {
        options = Empty;
        if (!TryWords(text ?? "", out var words, out error)) return false;

        var parsed = new List<RayStartOption>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var flags = 0;
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            if (!word.StartsWith("--", StringComparison.Ordinal))
            {
                error = $"{ClusterRules.Shown(word)} is not a --flag (write --flag=value, --flag value or --flag)";
                return false;
            }
            if (++flags > maxFlags)
            {
                error = $"must have at most {maxFlags} flags";
                return false;
            }
            var eq = word.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? word[2..] : word[2..eq];
            string? value = eq < 0 ? null : word[(eq + 1)..];
            if (!NamePattern().IsMatch(name))
            {
                error = $"{ClusterRules.Shown(word)} is not a --flag or --flag=value token";
                return false;
            }
            if (!seen.Add(name))
            {
                error = $"--{name} is given twice";
                return false;
            }
            var next = i + 1 < words.Count && !words[i + 1].StartsWith("--", StringComparison.Ordinal) ? words[i + 1] : null;
            if (Switches.Contains(name))
            {
                if (value is null)
                {
                    parsed.Add(new RayStartOption(name, null));
                }
                else if (value.Equals("true", StringComparison.OrdinalIgnoreCase))
                {
                    parsed.Add(new RayStartOption(name, null));
                }
                else if (!value.Equals("false", StringComparison.OrdinalIgnoreCase))
                {
                    error = $"--{name} is a switch: write --{name}, --{name}=true or --{name}=false";
                    return false;
                }
                continue;
            }
            if (value is null)
            {
                if (next is null)
                {
                    // An unknown bare flag is a switch; a known flag that takes a value would swallow the next word.
                    if (!ValueFlags.Contains(name))
                    {
                        parsed.Add(new RayStartOption(name, null));
                        continue;
                    }
                    error = $"--{name} takes a value: write --{name}=value";
                    return false;
                }
                if (!ValueFlags.Contains(name))
                {
                    error = $"Rayfleet does not know whether --{name} takes a value: write --{name}=value, or --{name} alone for a switch";
                    return false;
                }
                value = next;
                i++;
            }
            parsed.Add(new RayStartOption(name, value));
        }
        options = new RayStartOptions(parsed);
        return true;
    }

    /// <summary>Checks values whose form Rayfleet relies on: <c>--num-cpus</c> (accounting) and <c>--resources</c> (the KubeRay autoscaler reads it).</summary>
    public string? CheckValues()
    {
        if (Find("num-cpus") is { Value: { } cpus } && !long.TryParse(cpus, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            return $"--num-cpus must be a whole number of CPUs (0 or more), got {ClusterRules.Shown(cpus)}";
        if (Find("resources") is { Value: { } resources })
        {
            // KubeRay's autoscaler strips one pair of quotes and every backslash before it parses the JSON
            // (ray autoscaler/_private/kuberay/autoscaling_config.py, _get_custom_resources), so neither can be inside.
            if (resources.Contains('\'', StringComparison.Ordinal) || resources.Contains('\\', StringComparison.Ordinal))
                return "--resources cannot contain ' or \\";
            if (!IsResourceObject(resources))
                return $"--resources must be a JSON object of resource names to numbers, such as '{{\"x\": 1}}', got {ClusterRules.Shown(resources)}";
        }
        // KubeRay copies a head's redis-password from the map into REDIS_PASSWORD as it stands (pod.go ~167), so a value
        // that needs quoting on bash's command line would reach the Redis cleanup job with the quotes.
        if (Find("redis-password") is { Value: { Length: > 0 } password } && !IsPlainWord(password))
            return "--redis-password may only hold letters, digits and _./:,@%+=- (or use gftConfig.redisPassword)";
        return null;
    }

    /// <summary>A value that bash's word splitting leaves as it is: no quoting needed.</summary>
    public static bool IsPlainWord(string value) => PlainWord().IsMatch(value);

    [GeneratedRegex("^[A-Za-z0-9_./:,@%+=-]+\\z", RegexOptions.CultureInvariant)]
    private static partial Regex PlainWord();

    /// <summary>Whole cores Ray is told a node has, unless <c>--num-cpus</c> says otherwise: rounded down, so Ray never schedules more than the queue accounts.</summary>
    public static long WholeCores(long milliCpu) => Math.Max(0, milliCpu) / 1000;

    private static bool IsResourceObject(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                   && doc.RootElement.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() >= 0);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool TryWords(string text, out List<string> words, out string? error)
    {
        words = [];
        error = null;
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
                continue;
            }
            if (char.IsControl(c))
            {
                error = "must not contain control characters other than whitespace between words";
                return false;
            }
            inWord = true;
            switch (c)
            {
                case '\'':
                {
                    var end = text.IndexOf('\'', i + 1);
                    if (end < 0) return Fail("has a ' without its closing '", out error);
                    var quoted = text[(i + 1)..end];
                    if (quoted.Any(char.IsControl)) return Fail("must not contain control characters inside quotes", out error);
                    word.Append(quoted);
                    i = end;
                    break;
                }
                case '"':
                {
                    var closed = false;
                    for (i++; i < text.Length; i++)
                    {
                        var q = text[i];
                        if (q == '"')
                        {
                            closed = true;
                            break;
                        }
                        if (q is '$' or '`') return Fail($"has a {q} inside \"...\": nothing is expanded, put it inside '...'", out error);
                        if (char.IsControl(q)) return Fail("must not contain control characters inside quotes", out error);
                        if (q == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\') q = text[++i];
                        word.Append(q);
                    }
                    if (!closed) return Fail("has a \" without its closing \"", out error);
                    break;
                }
                case '\\':
                    if (i + 1 >= text.Length || char.IsControl(text[i + 1]))
                        return Fail("ends with a \\ that escapes nothing", out error);
                    word.Append(text[++i]);
                    break;
                case '$' or '`':
                    return Fail($"has a {c} outside quotes: nothing is expanded, put it inside '...'", out error);
                default:
                    word.Append(c);
                    break;
            }
        }
        if (inWord) words.Add(word.ToString());
        return true;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}
