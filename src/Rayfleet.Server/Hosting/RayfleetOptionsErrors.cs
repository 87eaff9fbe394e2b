using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Hosting;

/// <summary>A setting that cannot work, found while the service is being put together (before options are bound).</summary>
public sealed class RayfleetConfigurationException(string setting, string problem) : Exception($"{setting}: {problem}");

/// <summary>
/// Turns an exception from start-up into the configuration errors it stands for, one line each, naming the setting;
/// or nothing when it is not a configuration error (those keep their stack trace: they are bugs or the machine's).
/// </summary>
public static partial class RayfleetOptionsErrors
{
    /// <summary>The service's exit code when its configuration is broken (as the CLI's 2 for bad usage).</summary>
    public const int ExitCode = 2;

    public const string Prefix = "rayfleet: configuration error: ";

    public static IReadOnlyList<string> Describe(Exception exception)
    {
        var lines = new List<string>();
        Collect(exception, lines);
        return lines;
    }

    private static void Collect(Exception exception, List<string> lines)
    {
        switch (exception)
        {
            case AggregateException aggregate:
                // ValidateOnStart reports every options type that failed at once; all of them must be configuration errors.
                var inner = aggregate.InnerExceptions.Select(Describe).ToList();
                if (inner.All(l => l.Count > 0)) lines.AddRange(inner.SelectMany(l => l));
                break;
            case OptionsValidationException validation:
                lines.AddRange(validation.Failures.Select(OneLine));
                break;
            case RayfleetConfigurationException own:
                lines.Add(OneLine(own.Message));
                break;
            // A value the binder cannot convert ("abc" for a TimeSpan or an int).
            case InvalidOperationException when exception.Source == "Microsoft.Extensions.Configuration.Binder":
                lines.Add(OneLine(BinderFailure().Match(exception.Message) is { Success: true } m
                    ? $"{m.Groups["path"].Value}: '{m.Groups["value"].Value}' is not a valid {m.Groups["type"].Value}."
                    : exception.Message));
                break;
            // A settings file that is not JSON: the file, then the parser's line and position.
            case InvalidDataException when exception.Source?.StartsWith("Microsoft.Extensions.Configuration", StringComparison.Ordinal) == true:
                lines.Add(OneLine(exception.InnerException is { } parse ? $"{exception.Message} {parse.Message}" : exception.Message));
                break;
        }
    }

    // The binder's wording since .NET 8; when it changes, its message is shown as it is (it names the setting too).
    [GeneratedRegex(@"^Failed to convert configuration value '(?<value>.*)' at '(?<path>[^']+)' to type '(?:System\.)?(?<type>[^']+)'\.", RegexOptions.Singleline)]
    private static partial Regex BinderFailure();

    private static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
