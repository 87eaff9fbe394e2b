using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rayfleet.Server.Tests.Kubernetes;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Hosting;

public sealed class StartupLogTests
{
    // EF's migration events at Debug are written too: the test sees that the migrations ran and what became of their warnings.
    private static readonly Dictionary<string, string?> Settings = new() { ["Logging:LogLevel:Microsoft.EntityFrameworkCore.Migrations"] = "Debug" };

    [Fact]
    public async Task A_first_start_on_an_empty_data_folder_and_a_restart_on_it_log_no_warning()
    {
        var logs = new CapturingLoggerProvider();
        var data = Path.Combine(Path.GetTempPath(), "rayfleet-tests", Guid.NewGuid().ToString("N"));
        try
        {
            using (var first = new RayfleetHost(dataDirectory: data, settings: Settings, services: s => s.AddSingleton<ILoggerProvider>(logs)))
                await first.Api().DefaultWorkspaceAsync();
            var firstStart = logs.Lines.Count;
            using (var again = new RayfleetHost(dataDirectory: data, settings: Settings, services: s => s.AddSingleton<ILoggerProvider>(logs)))
                await again.Api().DefaultWorkspaceAsync();

            // The one warning left is ASP.NET Core's when it makes a Data Protection key, which it stores unencrypted
            // (the README says what protects it); a restart on the same folder makes none.
            var warnings = logs.Lines.Where(l => l.StartsWith("Warning ", StringComparison.Ordinal) || l.StartsWith("Error ", StringComparison.Ordinal)
                                                 || l.StartsWith("Critical ", StringComparison.Ordinal)).ToList();
            var keyWarning = warnings.Where(l => l.Contains("DataProtection", StringComparison.Ordinal) && l.Contains("No XML encryptor configured", StringComparison.Ordinal)).ToList();
            Assert.True(warnings.Count == keyWarning.Count, string.Join("\n", warnings));
            Assert.True(keyWarning.Count <= 1, string.Join("\n", keyWarning));
            Assert.DoesNotContain(logs.Lines.Skip(firstStart), l => l.StartsWith("Warning ", StringComparison.Ordinal));
            Assert.Contains(logs.Lines, l => l.StartsWith("Debug Microsoft.EntityFrameworkCore.Migrations", StringComparison.Ordinal) && l.Contains("rebuild", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
