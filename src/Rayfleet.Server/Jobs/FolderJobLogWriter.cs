using Rayfleet.Server.Hosting;
using Rayfleet.Server.Providers;

namespace Rayfleet.Server.Jobs;

/// <summary>Writes a job's logs under the data folder at its log path (interim: the log store replaces it).</summary>
public sealed class FolderJobLogWriter(DataFolder data, JobLogPlaces places) : IJobLogWriter
{
    public async Task WriteDriverLogAsync(string workspaceId, string submissionId, string text, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(data.Path, "logs", places.JobPrefix(workspaceId, submissionId));
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "driver.log");
        await File.WriteAllTextAsync(path + ".tmp", text, cancellationToken);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public INodeLogSink NodeLogs(string workspaceId, string submissionId) => new Sink(Path.Combine(data.Path, "logs", places.JobPrefix(workspaceId, submissionId), "nodes"));

    private sealed class Sink(string folder) : INodeLogSink
    {
        public async Task WriteAsync(string relativeName, Stream content, CancellationToken cancellationToken)
        {
            var path = Path.GetFullPath(Path.Combine(folder, relativeName));
            if (!path.StartsWith(Path.GetFullPath(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new ArgumentException($"Node log name '{relativeName}' leaves the job's folder.", nameof(relativeName));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = File.Create(path);
            await content.CopyToAsync(file, cancellationToken);
        }
    }
}
