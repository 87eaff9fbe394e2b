using System.Text.Json.Serialization;
using Rayfleet.Server.Api;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Hosting;

/// <summary>Source-generated serialization of what the service keeps as JSON beside the wire contracts.</summary>
[JsonSerializable(typeof(WorkspaceAttributes))]
internal sealed partial class ServerJson : JsonSerializerContext;

/// <summary>
/// Files that people read too (the local provider's state, the first run's credentials): indented, nulls left out.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LocalInstanceState))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class FileJson : JsonSerializerContext;
