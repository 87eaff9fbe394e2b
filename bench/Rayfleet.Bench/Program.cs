using Rayfleet.Bench;

// Throughput and latency of CreateRayCluster/GetRayCluster against the in-process service, next to what SQLite alone
// does with the same settings; or (--mode list-memory) the service's memory under parallel Lists; or (--mode jobs) a
// burst of short Ray jobs next to CreateRayCluster of their clusters; or (--mode burst) a burst of creates until every
// cluster runs, then an idle minute; or (--mode list-scale) Lists and Gets in a workspace of many clusters. See BenchOptions.Usage.
var options = BenchOptions.Parse(args, out var error);
if (options is null)
{
    Console.Error.WriteLine(error);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}
if (options.Help)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var workDirectory = Path.Combine(Path.GetTempPath(), "rayfleet-bench", Guid.NewGuid().ToString("N"));
try
{
    if (options.Mode == BenchMode.ListMemory)
    {
        var memory = await ListMemoryRun.RunAsync(options, workDirectory, cancel.Token);
        ListMemoryRun.Print(memory, Console.Out);
        if (options.OutFile is { } memoryOut)
        {
            await ReportWriter.WriteJsonAsync(memory, memoryOut);
            Console.WriteLine($"Results written to {Path.GetFullPath(memoryOut)}");
        }
        return memory.Errors == 0 && memory.TargetMet ? 0 : 1;
    }
    if (options.Mode == BenchMode.Jobs)
    {
        var jobs = await JobsRun.RunAsync(options, workDirectory, cancel.Token);
        JobsRun.Print(jobs, Console.Out);
        if (options.OutFile is { } jobsOut)
        {
            await ReportWriter.WriteJsonAsync(jobs, jobsOut);
            Console.WriteLine($"Results written to {Path.GetFullPath(jobsOut)}");
        }
        return jobs.AllSucceeded ? 0 : 1;
    }
    if (options.Mode == BenchMode.Burst)
    {
        var burst = await BurstRun.RunAsync(options, workDirectory, cancel.Token);
        BurstRun.Print(burst, Console.Out);
        if (options.OutFile is { } burstOut)
        {
            await ReportWriter.WriteJsonAsync(burst, burstOut);
            Console.WriteLine($"Results written to {Path.GetFullPath(burstOut)}");
        }
        return burst.TargetsMet ? 0 : 1;
    }
    if (options.Mode == BenchMode.ListScale)
    {
        var scale = await ListScaleRun.RunAsync(options, workDirectory, cancel.Token);
        ListScaleRun.Print(scale, Console.Out);
        if (options.OutFile is { } scaleOut)
        {
            await ReportWriter.WriteJsonAsync(scale, scaleOut);
            Console.WriteLine($"Results written to {Path.GetFullPath(scaleOut)}");
        }
        return scale.TargetsMet ? 0 : 1;
    }
    var report = await BenchRun.RunAsync(options, workDirectory, cancel.Token);
    ReportWriter.Print(report, Console.Out);
    if (options.OutFile is { } outFile)
    {
        await ReportWriter.WriteJsonAsync(report, outFile);
        Console.WriteLine($"Results written to {Path.GetFullPath(outFile)}");
    }
    return report.Errors == 0 ? 0 : 1;
}
catch (BenchFailedException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled.");
    return 1;
}
finally
{
    try
    {
        Directory.Delete(workDirectory, recursive: true);
    }
    catch (IOException)
    {
    }
}
