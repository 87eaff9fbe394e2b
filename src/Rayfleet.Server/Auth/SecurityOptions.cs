using System.ComponentModel.DataAnnotations;

namespace Rayfleet.Server.Auth;

public sealed class SecurityOptions
{
    public const string Section = "Rayfleet:Security";

    /// <summary>
    /// Skips request signatures and makes every caller an admin. For development on a laptop only: never the default,
    /// refused unless the service listens on loopback only, and announced at start and in every response.
    /// </summary>
    public bool InsecureDevelopmentMode { get; set; }

    /// <summary>Access key of the admin created on first start; when unset one is generated and written to the credentials file.</summary>
    public string? BootstrapAccessKeyId { get; set; }
    public string? BootstrapAccessKeySecret { get; set; }

    /// <summary>File in the data folder that receives a generated bootstrap key (owner-only permissions).</summary>
    [Required] public string CredentialsFile { get; set; } = "credentials.json";

    /// <summary>How far x-acs-date may be from the server's clock, either way.</summary>
    public TimeSpan TimestampWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a used nonce is remembered (at least the window, counted from the later of x-acs-date and arrival).</summary>
    public TimeSpan NonceRetention { get; set; } = TimeSpan.FromMinutes(30);

    public RateLimitOptions RateLimit { get; set; } = new();
}

public sealed class RateLimitOptions
{
    /// <summary>Requests an access key may make in a burst.</summary>
    [Range(1, 1_000_000)] public int BurstSize { get; set; } = 200;
    /// <summary>Sustained requests per second per access key.</summary>
    [Range(1, 1_000_000)] public int RequestsPerSecond { get; set; } = 100;
}
