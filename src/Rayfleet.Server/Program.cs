using Rayfleet.Server.Hosting;

try
{
    var builder = WebApplication.CreateBuilder(RayfleetApp.BuilderOptions(args));
    builder.AddRayfleet();

    var app = builder.Build();
    app.ValidateRayfleetConfiguration();
    app.UseRayfleet();
    app.Run();
    return 0;
}
// A broken setting is the operator's to fix: one line each, naming it, instead of a stack trace. Only when this is the
// process's entry point; in a test host the exception goes to the test.
catch (Exception e) when (typeof(Program).Assembly == System.Reflection.Assembly.GetEntryAssembly()
                          && RayfleetOptionsErrors.Describe(e) is { Count: > 0 } errors)
{
    foreach (var error in errors) Console.Error.WriteLine(RayfleetOptionsErrors.Prefix + error);
    return RayfleetOptionsErrors.ExitCode;
}

/// <summary>Entry point; public for the in-process test host.</summary>
public partial class Program;
