using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Jobs.Logs;

/// <summary>The job log store: <c>Rayfleet:Logs</c>, and <c>Rayfleet:PublicBaseUrl</c> for the download URLs.</summary>
public sealed class LogOptions
{
    public const string Section = "Rayfleet:Logs";
    public const string PublicBaseUrlSetting = "Rayfleet:PublicBaseUrl";

    /// <summary>A job's folder is removed once its newest file is older than this.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The <c>logBucketName</c> the job API reports; ListRayLogs and GetRayLog accept no other.</summary>
    public string BucketName { get; set; } = "rayfleet-logs";

    /// <summary>How long a GetRayLog <c>accessUrl</c> downloads the file.</summary>
    public TimeSpan UrlLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the retention sweep runs (it also runs once at start).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Job folders one sweep looks at; the next sweep carries on after the last one.</summary>
    public int MaxJobsPerSweep { get; set; } = 1000;

    /// <summary>
    /// Scheme, host and optional path that clients reach the service by (behind a proxy or a load balancer); when
    /// unset, download URLs use the scheme and host of the GetRayLog request. Bound from <c>Rayfleet:PublicBaseUrl</c>.
    /// </summary>
    public string? PublicBaseUrl { get; set; }
}

public sealed partial class LogOptionsValidator : IValidateOptions<LogOptions>
{
    /// <summary>OSS's bucket naming rule, so a name that a client might check as one passes.</summary>
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();

    public ValidateOptionsResult Validate(string? name, LogOptions options)
    {
        var failures = new List<string>();
        if (options.Retention <= TimeSpan.Zero) failures.Add($"{LogOptions.Section}:Retention: must be positive.");
        if (!BucketName().IsMatch(options.BucketName ?? ""))
            failures.Add($"{LogOptions.Section}:BucketName: '{options.BucketName}' must be 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit.");
        if (options.UrlLifetime < TimeSpan.FromSeconds(1) || options.UrlLifetime > TimeSpan.FromDays(7))
            failures.Add($"{LogOptions.Section}:UrlLifetime: must be from 1 second to 7 days.");
        if (options.SweepInterval < TimeSpan.FromSeconds(1)) failures.Add($"{LogOptions.Section}:SweepInterval: must be at least 1 second.");
        if (options.MaxJobsPerSweep < 1) failures.Add($"{LogOptions.Section}:MaxJobsPerSweep: must be at least 1.");
        if (options.PublicBaseUrl is { Length: > 0 } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo)))
            failures.Add($"{LogOptions.PublicBaseUrlSetting}: '{url}' must be an absolute http or https URL without query, fragment or user info.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
