using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Rayfleet.Server.Jobs.Logs;

public static class LogsRegistration
{
    /// <summary>The job log store, its download URLs and its retention sweep, with <c>Rayfleet:Logs</c> validated at start.</summary>
    public static IServiceCollection AddRayfleetLogs(this IServiceCollection services)
    {
        services.AddOptions<LogOptions>()
            .BindConfiguration(LogOptions.Section)
            .Configure<IConfiguration>((o, configuration) => o.PublicBaseUrl = configuration[LogOptions.PublicBaseUrlSetting])
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<LogOptions>, LogOptionsValidator>();
        services.AddSingleton<LogStore>();
        services.AddSingleton<LogAccessUrls>();
        services.AddSingleton<LogRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<LogRetention>());
        // Until the job table answers (registered beside it, which replaces this one): no job has logs to show.
        services.TryAddSingleton<IJobDirectory, NoJobDirectory>();
        return services;
    }

    private sealed class NoJobDirectory : IJobDirectory
    {
        public Task<bool> ExistsAsync(string workspaceId, string submissionId, CancellationToken ct) => Task.FromResult(false);
    }
}
