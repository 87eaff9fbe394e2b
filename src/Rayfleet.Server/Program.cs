using Rayfleet.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddRayfleet();

var app = builder.Build();
app.UseRayfleet();
app.Run();

/// <summary>Entry point; public for the in-process test host.</summary>
public partial class Program;
