using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Rayfleet.Server.Tests.Support;
using static Rayfleet.Server.Tests.Api.Wire;

namespace Rayfleet.Server.Tests.Api;

/// <summary>
/// Every route the application maps (read from its endpoint data source, so a new route is covered without a word),
/// driven with seeded, generated malformed input: wrong types, huge numbers, control characters, oversized and deeply
/// nested values, wrong content types, odd path and query values. Nothing may answer 5xx, every error must carry the
/// Alibaba Cloud error body, and a refused request must leave the store as it was. A failure names the seed and the
/// request number; <c>RAYFLEET_FUZZ_SEED</c> and <c>RAYFLEET_FUZZ_REQUESTS</c> replay or lengthen a run.
/// </summary>
public sealed class MalformedInputFuzzTests
{
    private const int DefaultSeed = 20261201;
    private const int DefaultRequests = 1200;

    // Every request is signed with the admin key, which the fuzz never names: InvalidAccessKeyId.* comes from the API.
    private static readonly string[] SignatureCodes = ["IncompleteSignature", "SignatureDoesNotMatch", "InvalidContentSha256", "InvalidTimeStamp", "SignatureNonceUsed"];

    [Fact]
    public async Task Every_route_answers_generated_malformed_input_below_500_in_the_error_body_and_keeps_nothing_it_refused()
    {
        var seed = EnvInt("RAYFLEET_FUZZ_SEED", DefaultSeed);
        var requests = EnvInt("RAYFLEET_FUZZ_REQUESTS", DefaultRequests);
        using var host = new RayfleetHost(settings: new Dictionary<string, string?>
        {
            // The fake clock never refills the bucket; the fuzz is about input, not rate limits.
            ["Rayfleet:Security:RateLimit:BurstSize"] = "1000000",
            ["Rayfleet:Security:RateLimit:RequestsPerSecond"] = "1000000",
        });
        var api = host.Api();
        var fixtures = await Fixtures.CreateAsync(api);
        var routes = Routes(host);
        Assert.True(routes.Count >= 30, $"Only {routes.Count} routes found: {string.Join(", ", routes)}");
        Assert.True(routes.Any(r => r.Method == "POST" && r.Pattern.RawText?.TrimEnd('/') == "/api/v1/workspaces/{workspaceId}/rayCluster"), string.Join("\n", routes));

        await using var store = new Store(Path.Combine(host.DataDirectory, "rayfleet.db"));
        var input = new Malformed(new Random(seed), fixtures);
        var failures = new List<string>();
        var reached = routes.ToDictionary(r => r.ToString(), _ => 0);
        await api.WaitForQuietAsync();
        var before = await store.SnapshotAsync();
        Assert.Single(before["clusters"]);
        var accepted = 0;
        var acceptedChanges = 0;

        for (var i = 0; i < requests && failures.Count < 20; i++)
        {
            var route = routes[i % routes.Count];
            var sent = input.Request(route);
            using var message = sent.ToMessage();
            using var response = await api.Http.SendAsync(message);
            var status = (int)response.StatusCode;
            var text = await response.Content.ReadAsStringAsync();
            var where = $"seed {seed} request {i}: {sent} -> {status} {Excerpt(text)}";

            if (status >= 500) failures.Add($"5xx at {where}");
            string? code = null;
            if (status >= 400)
            {
                code = ErrorBodyCode(response, text, out var problem);
                if (problem is not null) failures.Add($"{problem} at {where}");
            }
            if (code is null || !SignatureCodes.Any(c => code.StartsWith(c, StringComparison.Ordinal))) reached[route.ToString()]++;

            if (status >= 400)
            {
                var after = await store.SnapshotAsync();
                if (Store.Difference(before, after) is { } changed) failures.Add($"refused but stored ({changed}) at {where}");
                before = after;
            }
            else
            {
                // An accepted change may wake the reconciler; let it settle before the next comparison.
                await api.WaitForQuietAsync();
                var after = await store.SnapshotAsync();
                accepted++;
                if (Store.Difference(before, after) is not null) acceptedChanges++;
                before = after;
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // The generator must also make requests that succeed and change the store, or "nothing stored" proves nothing.
        Assert.True(accepted >= requests / 20 && acceptedChanges >= requests / 100, $"{accepted} accepted, {acceptedChanges} of them changed the store");
        // Input that never gets past the signature check would prove nothing about the handlers.
        var unreached = reached.Where(r => r.Value < Math.Min(5, requests / routes.Count / 2)).Select(r => r.Key).ToList();
        Assert.True(unreached.Count == 0, "Routes hardly reached past authentication: " + string.Join(", ", unreached));
    }

    /// <summary>The Code of a well-formed error body; otherwise null, with what is wrong in <paramref name="problem"/>.</summary>
    private static string? ErrorBodyCode(HttpResponseMessage response, string text, out string? problem)
    {
        problem = null;
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
        {
            problem = $"error without application/json ({response.Content.Headers.ContentType})";
            return null;
        }
        JsonObject? body;
        try
        {
            body = JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            body = null;
        }
        if (body is null)
        {
            problem = "error body is not a JSON object";
            return null;
        }
        foreach (var key in new[] { "RequestId", "HostId", "Code", "Message" })
        {
            if (body[key] is not JsonValue value || value.GetValueKind() != JsonValueKind.String || string.IsNullOrEmpty(value.GetValue<string>()))
            {
                problem = $"error body without a {key}";
                return null;
            }
        }
        var header = response.Headers.TryGetValues("x-acs-request-id", out var values) ? values.Single() : null;
        if (header != body["RequestId"]!.GetValue<string>()) problem = $"RequestId {body["RequestId"]} is not the header's {header}";
        return body["Code"]!.GetValue<string>();
    }

    private static List<Route> Routes(RayfleetHost host)
    {
        var source = host.Services.GetRequiredService<EndpointDataSource>();
        return [.. source.Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => new Route(m, e.RoutePattern, e.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType)))
            .OrderBy(r => r.Pattern.RawText, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)];
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : fallback;

    private static string Excerpt(string text) => text.Length <= 300 ? text : text[..300] + $"... ({text.Length} characters)";

    private sealed record Route(string Method, RoutePattern Pattern, Type? RequestType)
    {
        public override string ToString() => $"{Method} {Pattern.RawText}";
    }

    /// <summary>Real ids to aim at, so that generated input gets past the lookups into the rules behind them.</summary>
    private sealed record Fixtures(IReadOnlyDictionary<string, string> Ids)
    {
        public static async Task<Fixtures> CreateAsync(ApiClient api)
        {
            var ws = await api.DefaultWorkspaceAsync();
            var cluster = await api.CreateClusterAsync(ws, Bodies.Cluster("fuzz-target"));
            var principal = (await api.PostAsync("/api/v1/admin/principals", new { name = "fuzz-user" })).EnsureOk().Json["principalId"]!.GetValue<string>();
            // A key of another principal: disabling or deleting it must not lock the fuzz out.
            var key = (await api.PostAsync($"/api/v1/admin/principals/{principal}/accessKeys")).EnsureOk().Json["accessKeyId"]!.GetValue<string>();
            (await api.PostAsync($"/api/v1/workspaces/{ws}/members", new { principalId = principal, role = "viewer" })).EnsureOk();
            var volume = (await api.PostAsync($"/api/v1/workspaces/{ws}/volumes", new { name = "fuzz-vol", kind = "pvc", source = "claim", mountPath = "/mnt/fuzz" }))
                .EnsureOk().Json["volumeId"]!.GetValue<string>();
            await api.WaitForQuietAsync();
            return new Fixtures(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            {
                ["workspaceId"] = ws,
                ["clusterId"] = cluster,
                ["principalId"] = principal,
                ["accessKeyId"] = key,
                ["volumeId"] = volume,
                ["workspaceQueueName"] = "root_queue",
                ["documentName"] = "v1",
            });
        }
    }

    /// <summary>One generated request, with enough of itself in <see cref="ToString"/> to replay it by hand.</summary>
    private sealed record Sent(string Method, string Target, string? ContentType, byte[]? Body)
    {
        public HttpRequestMessage ToMessage()
        {
            var message = new HttpRequestMessage(new HttpMethod(Method), new Uri(Target, UriKind.Relative));
            if (Body is not null)
            {
                message.Content = new ByteArrayContent(Body);
                if (ContentType is not null) message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            }
            return message;
        }

        public override string ToString()
        {
            var body = Body is null ? "no body" : Body.Length > 200 ? $"{Body.Length} bytes: {Encoding.UTF8.GetString(Body, 0, 200)}..." : Encoding.UTF8.GetString(Body);
            var target = Target.Length > 300 ? Target[..300] + "..." : Target;
            return $"{Method} {target} [{ContentType ?? "no content type"}] {body}";
        }
    }

    /// <summary>Seeded generator of requests that are mostly well-formed, with malformed parts mixed in.</summary>
    private sealed class Malformed(Random rng, Fixtures fixtures)
    {
        private static readonly string[] OddStrings =
        [
            "", " ", "a", "\u0000", "\u0001\u001f\u007f", "line\nbreak\r\n", "\t\t", "é漢字🚀", "\ud800", "\udfff\ud800",
            "'; DROP TABLE clusters; --", "../../etc/passwd", "%00", "%2F", "null", "-1", "0", "1e300", "NaN", "Infinity",
            "99999999999999999999", "0x10", "1m", "0m", "-4Gi", "1Ei", "999999999Ei", "0.0000001", "4Gi ", "CPU", "GPU", "TPU",
            "root_queue", "true", "{}", "[]", "{\"simulated\":{\"startDelaySeconds\":1e12}}", "{\"simulated\":{\"startDelaySeconds\":1e300}}",
            "{\"simulated\":{\"busyWorkers\":{\"g0\":-1}}}", "{\"simulated\":5}", "w-0000000000000000", "ray-0000000000000000",
            "--head", "--num-cpus=0 --address=x", "A=1\nB", "=x", "PATH=/bin\n\n\n", "<xml/>", "\\", "\"",
        ];

        private static readonly string[] OddNumbers =
        [
            "0", "-1", "1", "2", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
            "1e300", "-1e300", "1.5", "1e-400", "1E12", "-0", "60000", "2001", "86401", "1e2",
        ];

        private static readonly string[] ContentTypes =
        [
            "text/plain", "application/xml", "application/x-www-form-urlencoded", "application/octet-stream",
            "multipart/form-data; boundary=zz", "application/json; charset=latin1", "x/y", "application/json;;;", "*/*",
        ];

        private static readonly string[] QueryNames =
        [
            "pageSize", "pageNum", "maxResults", "nextToken", "since", "until", "principalId", "workspaceId", "action",
            "outcome", "clientToken", "name", "state", "clusterId", "instanceId", "regionId", "x",
        ];

        private int _serial;

        public Sent Request(Route route)
        {
            _serial++;
            var method = rng.Next(40) == 0 ? Pick(["PUT", "PATCH", "GET", "DELETE", "POST"]) : route.Method;
            var target = Path(route.Pattern) + Query();
            var (contentType, body) = Body(route);
            return new Sent(method, target, contentType, body);
        }

        private string Path(RoutePattern pattern)
        {
            var path = new StringBuilder();
            foreach (var segment in pattern.PathSegments)
            {
                path.Append('/');
                foreach (var part in segment.Parts)
                {
                    path.Append(part switch
                    {
                        RoutePatternLiteralPart literal => literal.Content,
                        // A NUL in the path never reaches the service: Kestrel refuses it (SocketErrorTests pins that).
                        RoutePatternParameterPart parameter => Uri.EscapeDataString(PathValue(parameter.Name).Replace('\0', '0')),
                        RoutePatternSeparatorPart separator => separator.Content,
                        _ => "",
                    });
                }
            }
            return path.Length == 0 ? "/" : path.ToString();
        }

        private string PathValue(string name)
        {
            if (rng.NextDouble() < 0.65 && fixtures.Ids.TryGetValue(name, out var real)) return real;
            return rng.Next(6) switch
            {
                0 => new string('x', rng.Next(200, 3000)),
                1 => Pick(fixtures.Ids.Values.ToArray()),
                _ => OddString(),
            };
        }

        private string Query()
        {
            if (rng.Next(3) != 0) return "";
            var parts = Enumerable.Range(0, rng.Next(1, 4))
                .Select(_ => $"{Uri.EscapeDataString(Pick(QueryNames))}={Uri.EscapeDataString(rng.Next(3) == 0 ? Pick(OddNumbers) : OddString())}");
            return "?" + string.Join("&", parts);
        }

        private (string? ContentType, byte[]? Body) Body(Route route)
        {
            var contentType = rng.Next(8) == 0 ? Pick(ContentTypes) : rng.Next(30) == 0 ? null : "application/json";
            var form = rng.Next(20);
            string json;
            if (form == 0) return (contentType, null);
            if (form == 1) return (contentType, RandomBytes(rng.Next(1, 64)));
            if (form == 2) json = Pick(["", "null", "[]", "{", "\"x\"", "1", "{\"a\":}", "{}{}", "{\"name\":\"a\",}", "\uFEFF{}"]);
            else if (form == 3) json = "{\"name\":" + Nested(rng.Next(20, 200)) + "}";
            else if (form == 4 && rng.Next(4) == 0) json = "{\"description\":\"" + new string('d', (1024 * 1024) + rng.Next(1, 100)) + "\"}";
            else if (route.RequestType is { } type) json = Write(Value(type, "", 0));
            else if (route.Method is "GET" or "DELETE" && rng.Next(3) != 0) return (null, null);
            else json = Write(Value(typeof(Dictionary<string, string>), "", 0));
            return (contentType, Encoding.UTF8.GetBytes(json));
        }

        /// <summary>A tree for <paramref name="type"/>: realistic values, with malformed ones in about one leaf in seven.</summary>
        private object? Value(Type type, string name, int depth)
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (depth > 0 && rng.Next(7) == 0) return Anything(depth);
            if (type == typeof(string)) return Realistic(name) ?? "x";
            if (type == typeof(int) || type == typeof(long)) return new Raw(Realistic(name) ?? "1");
            if (type == typeof(double) || type == typeof(decimal)) return new Raw("1.5");
            if (type == typeof(bool)) return rng.Next(2) == 0;
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
                return Enumerable.Range(0, rng.Next(0, 4)).Select(i => Value(type.GetGenericArguments()[0], name, depth + 1)).ToList();
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
                return Enumerable.Range(0, rng.Next(0, 4)).ToDictionary(i => Pick(QueryNames) + i, i => Value(type.GetGenericArguments()[1], "", depth + 1));
            var members = new Dictionary<string, object?>();
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var jsonName = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
                if (jsonName is null || rng.Next(5) == 0) continue;
                if (jsonName is "clientToken" && rng.Next(3) != 0) continue;
                if (jsonName is "displayReleaseVersion" or "gpuSpec" or "networkServiceName" or "instanceId" && rng.Next(4) != 0) continue;
                members[jsonName] = Value(property.PropertyType, jsonName, depth + 1);
            }
            if (rng.Next(10) == 0) members[OddString()] = Anything(depth + 1);
            return members;
        }

        private string? Realistic(string name) => name switch
        {
            "name" or "workspaceName" or "workspaceQueueName" => $"fuzz-{_serial}",
            "groupName" => $"g{rng.Next(3)}",
            "cpu" => Pick(["1", "500m", "2"]),
            "memory" => Pick(["4Gi", "2Gi"]),
            "cu" => "8",
            "gpu" => "0",
            "workerType" => "CPU",
            "queueName" => "root_queue",
            "workspaceId" => fixtures.Ids["workspaceId"],
            "principalId" => fixtures.Ids["principalId"],
            "volumeIds" => fixtures.Ids["volumeId"],
            "replica" or "minReplica" or "maxReplica" => rng.Next(1, 3).ToString(CultureInfo.InvariantCulture),
            "idleTimeoutSeconds" => "60",
            "extraParam" => Pick(["{}", "{\"simulated\":{\"startDelaySeconds\":5}}"]),
            "env" => "A=1",
            "rayStartParams" => "--num-cpus=0",
            "role" => Pick(["viewer", "developer", "owner"]),
            "kind" => "pvc",
            "source" => "claim",
            "mountPath" => "/mnt/fuzz",
            "provider" => "simulated",
            "clientToken" => $"tok-{rng.Next(5)}",
            "description" => "d",
            _ => null,
        };

        /// <summary>Any JSON value, mostly of the wrong type for wherever it lands.</summary>
        private object? Anything(int depth) => rng.Next(9) switch
        {
            0 => null,
            1 => rng.Next(2) == 0,
            2 or 3 => new Raw(Pick(OddNumbers)),
            4 => OddString(),
            5 => new Raw(Nested(rng.Next(2, depth > 2 ? 10 : 60))),
            6 => Enumerable.Range(0, rng.Next(0, rng.Next(10) == 0 ? 3000 : 4)).Select(_ => (object?)OddString()).ToList(),
            7 => new Dictionary<string, object?> { [OddString()] = depth < 4 ? Anything(depth + 1) : null },
            _ => new string(Pick(['a', '\u0000', '\n', 'é', '\u202e']), rng.Next(1, 70_000)),
        };

        private string OddString() => rng.Next(5) == 0
            ? new string(Enumerable.Range(0, rng.Next(1, 80)).Select(_ => (char)rng.Next(0, 0x3000)).ToArray())
            : Pick(OddStrings);

        private string Nested(int depth)
        {
            var open = rng.Next(2) == 0 ? "[" : "{\"a\":";
            var close = open == "[" ? "]" : "}";
            return string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth));
        }

        private byte[] RandomBytes(int length)
        {
            var bytes = new byte[length];
            rng.NextBytes(bytes);
            return bytes;
        }

        private T Pick<T>(T[] items) => items[rng.Next(items.Length)];

        /// <summary>JSON text by hand: the generator's strings may hold lone surrogates that a JSON writer refuses to write.</summary>
        private static string Write(object? value)
        {
            var text = new StringBuilder();
            WriteTo(text, value);
            return text.ToString();
        }

        private static void WriteTo(StringBuilder text, object? value)
        {
            switch (value)
            {
                case null: text.Append("null"); break;
                case bool b: text.Append(b ? "true" : "false"); break;
                case Raw raw: text.Append(raw.Json); break;
                case string s:
                    text.Append('"');
                    foreach (var c in s)
                    {
                        if (c is '"' or '\\') text.Append('\\').Append(c);
                        else if (c < 0x20 || char.IsSurrogate(c)) text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                        else text.Append(c);
                    }
                    text.Append('"');
                    break;
                case Dictionary<string, object?> members:
                    text.Append('{');
                    var first = true;
                    foreach (var (key, member) in members)
                    {
                        if (!first) text.Append(',');
                        first = false;
                        WriteTo(text, key);
                        text.Append(':');
                        WriteTo(text, member);
                    }
                    text.Append('}');
                    break;
                case System.Collections.IEnumerable items:
                    text.Append('[');
                    var firstItem = true;
                    foreach (var item in items)
                    {
                        if (!firstItem) text.Append(',');
                        firstItem = false;
                        WriteTo(text, item);
                    }
                    text.Append(']');
                    break;
                default: throw new InvalidOperationException($"Cannot write {value.GetType()}");
            }
        }

        private sealed record Raw(string Json);
    }

    /// <summary>
    /// The store as rows, read over its own read-only connection. The audit log and the nonce ledger are left out (a
    /// refused request is audited, and every signed request spends a nonce), as is a key's last-use time.
    /// </summary>
    private sealed class Store(string path) : IAsyncDisposable
    {
        private static readonly HashSet<string> Ignored = new(StringComparer.OrdinalIgnoreCase) { "audit_log", "signature_nonces" };
        private readonly SqliteConnection _connection = new($"Data Source={path};Mode=ReadOnly;Pooling=False");

        public async Task<Dictionary<string, List<string>>> SnapshotAsync()
        {
            if (_connection.State != System.Data.ConnectionState.Open) await _connection.OpenAsync();
            var tables = new List<string>();
            await using (var list = _connection.CreateCommand())
            {
                list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
                await using var reader = await list.ExecuteReaderAsync();
                while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
            }
            Assert.Contains("clusters", tables);
            var snapshot = new Dictionary<string, List<string>>();
            foreach (var table in tables.Where(t => !Ignored.Contains(t)))
            {
                await using var select = _connection.CreateCommand();
                select.CommandText = $"SELECT * FROM \"{table}\"";
                await using var reader = await select.ExecuteReaderAsync();
                var rows = new List<string>();
                while (await reader.ReadAsync())
                {
                    var row = new StringBuilder();
                    for (var c = 0; c < reader.FieldCount; c++)
                    {
                        if (reader.GetName(c).Contains("LastUsed", StringComparison.OrdinalIgnoreCase)) continue;
                        row.Append(reader.GetName(c)).Append('=').Append(reader.IsDBNull(c) ? "NULL" : Convert.ToString(reader.GetValue(c), CultureInfo.InvariantCulture)).Append(';');
                    }
                    rows.Add(row.ToString());
                }
                rows.Sort(StringComparer.Ordinal);
                snapshot[table] = rows;
            }
            return snapshot;
        }

        public static string? Difference(Dictionary<string, List<string>> before, Dictionary<string, List<string>> after)
        {
            var changed = after.Keys.Union(before.Keys)
                .Where(t => !before.TryGetValue(t, out var b) || !after.TryGetValue(t, out var a) || !b.SequenceEqual(a))
                .Select(t =>
                {
                    var b = before.GetValueOrDefault(t) ?? [];
                    var a = after.GetValueOrDefault(t) ?? [];
                    var added = a.Except(b).Select(r => "+ " + Excerpt(r));
                    var removed = b.Except(a).Select(r => "- " + Excerpt(r));
                    return $"{t}: {string.Join(" | ", added.Concat(removed).Take(4))}";
                })
                .ToList();
            return changed.Count == 0 ? null : string.Join("; ", changed);
        }

        public async ValueTask DisposeAsync() => await _connection.DisposeAsync();
    }
}
