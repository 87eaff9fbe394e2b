using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Hosting;
using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

public static partial class SecuritySetup
{
    public static IServiceCollection AddRayfleetSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SecurityOptions>().Bind(configuration.GetSection(SecurityOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecurityOptions>>(new SecurityOptionsValidator(configuration));
        services.AddMemoryCache();
        services.AddHttpContextAccessor();
        services.AddSingleton<AccessKeyStore>();
        services.AddSingleton<NonceLedger>();
        services.AddAuthentication(Acs3AuthenticationHandler.SchemeName)
            .AddScheme<Acs3AuthenticationOptions, Acs3AuthenticationHandler>(Acs3AuthenticationHandler.SchemeName, configureOptions: null);
        var authorization = services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new UnlistedEndpointRequirement()).Build());
        foreach (var policy in RamPolicies.All)
            authorization.AddPolicy(policy.Name, p => p.AddRequirements(new RamRequirement(policy)));
        services.AddSingleton<IAuthorizationHandler, RamAuthorizationHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, RamForbiddenResultHandler>();
        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var key = Caller.Of(context)?.AccessKeyId;
                if (key is null) return RateLimitPartition.GetNoLimiter("");
                var limits = context.RequestServices.GetRequiredService<IOptions<SecurityOptions>>().Value.RateLimit;
                return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limits.BurstSize,
                    TokensPerPeriod = limits.RequestsPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            o.OnRejected = async (rejected, ct) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) && after > TimeSpan.Zero ? after : TimeSpan.FromSeconds(1);
                var headers = rejected.HttpContext.Response.Headers;
                headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                headers["x-acs-retry-after"] = ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
                await ErrorHandling.WriteErrorAsync(rejected.HttpContext, 429, ErrorCodes.Throttling, "Request was denied due to user flow control.");
            };
        });
        services.AddHostedService<SecurityBootstrap>();
        return services;
    }

    /// <summary>
    /// Signature check (the ACS3 scheme), then the per-key rate limit, then routing and the role check (the RAM
    /// policies); a failed signature is answered when authorization challenges it.
    /// </summary>
    public static WebApplication UseRayfleetSecurity(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value;
        if (options.InsecureDevelopmentMode)
            LogInsecure(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Rayfleet.Security"));
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseRouting();
        app.UseAuthorization();
        return app;
    }

    [LoggerMessage(Level = LogLevel.Critical, Message =
        "INSECURE DEVELOPMENT MODE: request signatures are NOT checked and every caller is an admin. Never expose this service; it only listens on loopback.")]
    private static partial void LogInsecure(ILogger logger);
}

/// <summary>Insecure development mode is refused unless every address the service listens on is loopback.</summary>
public sealed class SecurityOptionsValidator(IConfiguration configuration) : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        var failures = new List<string>();
        if (options.TimestampWindow <= TimeSpan.Zero) failures.Add("Rayfleet:Security:TimestampWindow must be positive.");
        if (options.NonceRetention < options.TimestampWindow)
            failures.Add("Rayfleet:Security:NonceRetention must be at least TimestampWindow, or a replay could pass once the nonce is forgotten.");
        if (options.BootstrapAccessKeyId is null != options.BootstrapAccessKeySecret is null)
            failures.Add("Rayfleet:Security:BootstrapAccessKeyId and BootstrapAccessKeySecret must be set together.");
        if (options.BootstrapAccessKeySecret is { Length: < 16 })
            failures.Add("Rayfleet:Security:BootstrapAccessKeySecret must be at least 16 characters.");
        if (options.InsecureDevelopmentMode)
        {
            var urls = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var url in urls.Where(u => !IsLoopback(u)))
                failures.Add($"Rayfleet:Security:InsecureDevelopmentMode requires loopback addresses only; '{url}' is not loopback.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://wildcard", StringComparison.Ordinal).Replace("://+", "://wildcard", StringComparison.Ordinal), UriKind.Absolute, out var uri))
            return false;
        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}

/// <summary>
/// On first start: an admin principal and its access key. The key comes from configuration (for deployments) or is
/// generated and written to the credentials file in the data folder, readable by the owner only.
/// </summary>
public sealed partial class SecurityBootstrap(
    IServiceScopeFactory scopes, AccessKeyStore keys, IOptions<SecurityOptions> security, IOptions<RayfleetOptions> options,
    IConfiguration configuration, TimeProvider time, ILogger<SecurityBootstrap> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RayfleetDbContext>();
        var s = security.Value;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var admin = await db.Principals.FirstOrDefaultAsync(p => p.Name == "admin", cancellationToken);
        if (admin is null)
        {
            admin = new PrincipalRow { Id = "p-admin", Name = "admin", IsAdmin = true, CreateTime = now };
            db.Principals.Add(admin);
        }

        if (s.BootstrapAccessKeyId is { } id && s.BootstrapAccessKeySecret is { } secret)
        {
            // A configured key is (re)installed on every start, so rotating it in the deployment takes effect.
            var row = await db.AccessKeys.FirstOrDefaultAsync(k => k.Id == id, cancellationToken);
            if (row is null) db.AccessKeys.Add(new AccessKeyRow { Id = id, PrincipalId = admin.Id, ProtectedSecret = keys.Protect(secret), CreateTime = now });
            else if (row.PrincipalId == admin.Id) row.ProtectedSecret = keys.Protect(secret);
            await db.SaveChangesAsync(cancellationToken);
            keys.Evict(id);
            LogConfigured(logger, id);
            return;
        }

        if (await db.AccessKeys.AnyAsync(k => k.PrincipalId == admin.Id, cancellationToken))
        {
            await db.SaveChangesAsync(cancellationToken);
            return;
        }
        var keyId = AccessKeyStore.NewKeyId();
        var keySecret = AccessKeyStore.NewSecret();
        db.AccessKeys.Add(new AccessKeyRow { Id = keyId, PrincipalId = admin.Id, ProtectedSecret = keys.Protect(keySecret), CreateTime = now });
        var path = Path.Combine(Path.GetFullPath(options.Value.DataDirectory), s.CredentialsFile);
        await WriteCredentialsAsync(path, keyId, keySecret, cancellationToken);
        // The key is committed only once its secret is safely on disk: a crash in between leaves no unusable key.
        await db.SaveChangesAsync(cancellationToken);
        LogGenerated(logger, keyId, path);
    }

    private async Task WriteCredentialsAsync(string path, string keyId, string secret, CancellationToken ct)
    {
        var endpoint = (configuration["urls"] ?? "http://127.0.0.1:5080").Split(';')[0];
        var json = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["endpoint"] = endpoint,
            ["accessKeyId"] = keyId,
            ["accessKeySecret"] = secret,
        }, FileJson.Default.DictionaryStringString);
        var temp = path + ".tmp";
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var stream = new FileStream(temp, fileOptions))
        await using (var writer = new StreamWriter(stream))
            await writer.WriteAsync(json.AsMemory(), ct);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Created the admin access key {AccessKeyId}; its secret is in {Path} (owner-only). Configure the CLI with: rayfleet configure --credentials-file {Path}")]
    private static partial void LogGenerated(ILogger logger, string accessKeyId, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin access key {AccessKeyId} installed from configuration")]
    private static partial void LogConfigured(ILogger logger, string accessKeyId);
}
