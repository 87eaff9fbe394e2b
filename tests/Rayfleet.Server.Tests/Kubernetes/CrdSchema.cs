using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// The v1 openAPIV3Schema of KubeRay's RayCluster CRD (a copy of ../shared/kuberay/ray.io_rayclusters.yaml, KubeRay
/// v1.7.0), turned into JSON Schema 2020-12 the way the API server reads it: <c>x-kubernetes-int-or-string</c> as
/// integer-or-string, <c>nullable</c> as null allowed, <c>format: int32/int64</c> as ranges, and objects closed to
/// unknown fields unless <c>x-kubernetes-preserve-unknown-fields</c> (what <c>fieldValidation=Strict</c>, which the
/// provider sends, makes of them). List-map keys must be unique, as <c>x-kubernetes-list-type: map</c> demands. CEL
/// rules (<c>x-kubernetes-validations</c>) are left out: the two in this CRD guard immutability and managedBy, which the
/// provider never sets.
/// </summary>
public sealed class CrdSchema
{
    public static readonly string CrdPath = Path.Combine(AppContext.BaseDirectory, "Kubernetes", "Crd", "ray.io_rayclusters.yaml");

    private static readonly Lazy<CrdSchema> Instance = new(() => Load(CrdPath, "v1"));

    public static CrdSchema RayClusterV1 => Instance.Value;

    /// <summary>The RayJob CRD (../shared/kuberay/ray.io_rayjobs.yaml, KubeRay v1.7.0), read the same way.</summary>
    public static readonly string RayJobCrdPath = Path.Combine(AppContext.BaseDirectory, "Kubernetes", "Crd", "ray.io_rayjobs.yaml");

    private static readonly Lazy<CrdSchema> JobInstance = new(() => Load(RayJobCrdPath, "v1"));

    public static CrdSchema RayJobV1 => JobInstance.Value;

    private readonly JsonSchema _schema;

    private CrdSchema(JsonObject openApi, JsonObject jsonSchema)
    {
        OpenApi = openApi;
        JsonSchemaDocument = jsonSchema;
        _schema = JsonSchema.FromText(jsonSchema.ToJsonString());
    }

    public JsonObject OpenApi { get; }

    public JsonObject JsonSchemaDocument { get; }

    public static CrdSchema Load(string path, string version)
    {
        var stream = new YamlStream();
        using (var reader = File.OpenText(path)) stream.Load(reader);
        var crd = ToJson(stream.Documents.First(d => d.RootNode is YamlMappingNode).RootNode)!.AsObject();
        var versions = crd["spec"]!["versions"]!.AsArray();
        var openApi = versions.OfType<JsonObject>().Single(v => v["name"]!.GetValue<string>() == version)["schema"]!["openAPIV3Schema"]!.AsObject();
        var converted = Convert(openApi, root: true);
        converted["$schema"] = "https://json-schema.org/draft/2020-12/schema";
        return new CrdSchema(openApi, converted);
    }

    /// <summary>Every way the object breaks the schema, as "location: message"; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate(JsonObject manifest)
    {
        using var doc = JsonDocument.Parse(manifest.ToJsonString());
        var results = _schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        var errors = new List<string>();
        if (!results.IsValid)
            foreach (var detail in (results.Details ?? []).Append(results))
                if (detail.Errors is { Count: > 0 } e)
                    foreach (var (keyword, message) in e)
                        errors.Add($"{detail.InstanceLocation}: {keyword}: {message}");
        if (!results.IsValid && errors.Count == 0) errors.Add("invalid (no detail)");
        ListMapKeys(OpenApi, manifest, "", errors);
        return errors;
    }

    private static JsonObject Convert(JsonObject s, bool root = false)
    {
        var result = new JsonObject();
        var preserve = s["x-kubernetes-preserve-unknown-fields"]?.GetValue<bool>() == true;
        foreach (var keyword in new[] { "enum", "pattern", "maxLength", "minLength", "minimum", "maximum", "maxItems", "minItems", "required", "maxProperties", "minProperties", "exclusiveMinimum", "exclusiveMaximum" })
            if (s[keyword] is { } v) result[keyword] = v.DeepClone();
        if (s["type"] is { } type) result["type"] = type.DeepClone();
        switch (s["format"]?.GetValue<string>())
        {
            case "int32":
                result["minimum"] ??= int.MinValue;
                result["maximum"] ??= int.MaxValue;
                break;
            case "int64":
                result["minimum"] ??= long.MinValue;
                result["maximum"] ??= long.MaxValue;
                break;
        }
        if (s["x-kubernetes-int-or-string"]?.GetValue<bool>() == true)
        {
            result.Remove("type");
            var asString = new JsonObject { ["type"] = "string" };
            if (result["pattern"] is { } p)
            {
                asString["pattern"] = p.DeepClone();
                result.Remove("pattern");
            }
            result["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, asString);
        }
        else
        {
            foreach (var combinator in new[] { "anyOf", "allOf", "oneOf" })
                if (s[combinator] is JsonArray items)
                    result[combinator] = new JsonArray([.. items.OfType<JsonObject>().Select(i => (JsonNode)Convert(i))]);
        }
        if (s["nullable"]?.GetValue<bool>() == true && result["type"] is JsonValue t)
            result["type"] = new JsonArray(t.GetValue<string>(), "null");
        if (s["properties"] is JsonObject properties)
        {
            var converted = new JsonObject();
            foreach (var (name, value) in properties)
                converted[name] = name == "metadata" && root ? new JsonObject { ["type"] = "object" } : Convert(value!.AsObject());
            result["properties"] = converted;
        }
        if (s["items"] is JsonObject itemSchema) result["items"] = Convert(itemSchema);
        if (s["x-kubernetes-list-type"]?.GetValue<string>() == "set") result["uniqueItems"] = true;
        if (s["additionalProperties"] is JsonObject additional) result["additionalProperties"] = Convert(additional);
        else if (s["additionalProperties"] is JsonValue b) result["additionalProperties"] = b.DeepClone();
        else if (s["properties"] is not null && !preserve) result["additionalProperties"] = false;
        return result;
    }

    /// <summary><c>x-kubernetes-list-type: map</c>: no two items share their key fields.</summary>
    private static void ListMapKeys(JsonObject schema, JsonNode? instance, string path, List<string> errors)
    {
        switch (instance)
        {
            case JsonObject o when schema["properties"] is JsonObject props:
                foreach (var (name, value) in o)
                    if (props[name] is JsonObject child) ListMapKeys(child, value, $"{path}/{name}", errors);
                break;
            case JsonObject o when schema["additionalProperties"] is JsonObject additional:
                foreach (var (name, value) in o) ListMapKeys(additional, value, $"{path}/{name}", errors);
                break;
            case JsonArray a when schema["items"] is JsonObject items:
                if (schema["x-kubernetes-list-type"]?.GetValue<string>() == "map" && schema["x-kubernetes-list-map-keys"] is JsonArray keys)
                {
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var item in a.OfType<JsonObject>())
                    {
                        var key = string.Join("|", keys.Select(k => item[k!.GetValue<string>()]?.ToJsonString() ?? "null"));
                        if (!seen.Add(key)) errors.Add($"{path}: duplicate entries for list-map key {key}");
                    }
                }
                for (var i = 0; i < a.Count; i++) ListMapKeys(items, a[i], $"{path}/{i}", errors);
                break;
        }
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => new KeyValuePair<string, JsonNode?>(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray([.. s.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain } p => Plain(p.Value),
        YamlScalarNode q => JsonValue.Create(q.Value),
        _ => null,
    };

    private static JsonNode? Plain(string? value) => value switch
    {
        null or "null" or "~" => null,
        "true" => JsonValue.Create(true),
        "false" => JsonValue.Create(false),
        _ when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        _ when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && value.Any(char.IsDigit) && !value.Contains(':', StringComparison.Ordinal) => JsonValue.Create(d),
        _ => JsonValue.Create(value),
    };
}
