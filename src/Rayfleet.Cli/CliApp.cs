using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rayfleet.Core.Signing;

namespace Rayfleet.Cli;

/// <summary>
/// The <c>rayfleet</c> command. Exit codes: 0 success, 1 the service answered an error, 2 bad usage or configuration,
/// 3 the service could not be reached.
/// </summary>
public sealed class CliApp(TextWriter stdout, TextWriter stderr, IReadOnlyDictionary<string, string?> environment, HttpMessageHandler? handler = null)
{
    public const int Ok = 0, ApiError = 1, UsageError = 2, Unreachable = 3;

    public static Task<int> RunMainAsync(string[] args)
    {
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);
        return new CliApp(Console.Out, Console.Error, env).RunAsync(args);
    }

    public async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Rayfleet command-line client: signs requests with ACS3-HMAC-SHA256 and calls the Rayfleet API.");
        var configOption = new Option<string?>("--config") { Description = "Configuration file (default ~/.rayfleet/config.json, or RAYFLEET_CONFIG)." };
        root.Options.Add(configOption);
        root.Subcommands.Add(ConfigureCommand(configOption));
        root.Subcommands.Add(ApiCommand(configOption));

        // "@file" is the --body syntax here, not a System.CommandLine response file.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await stderr.WriteLineAsync(error.Message);
            return UsageError;
        }
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    private Command ConfigureCommand(Option<string?> configOption)
    {
        var endpoint = new Option<string?>("--endpoint") { Description = "Service address, e.g. http://127.0.0.1:5080." };
        var keyId = new Option<string?>("--access-key-id") { Description = "Access key id." };
        var secret = new Option<string?>("--access-key-secret") { Description = "Access key secret (prefer --credentials-file or RAYFLEET_ACCESS_KEY_SECRET: arguments are visible to other users)." };
        var credentials = new Option<string?>("--credentials-file") { Description = "Read endpoint and key from the credentials file the service wrote in its data folder." };
        var command = new Command("configure", "Save the endpoint and access key the other commands use.") { endpoint, keyId, secret, credentials };
        command.SetAction(async (result, ct) =>
        {
            var path = result.GetValue(configOption) ?? CliConfig.DefaultPath(environment);
            var config = CliConfig.Load(path);
            if (result.GetValue(credentials) is { } file)
            {
                if (!File.Exists(file)) return await FailAsync(UsageError, $"Credentials file '{file}' does not exist.");
                var fromFile = JsonSerializer.Deserialize(await File.ReadAllTextAsync(file, ct), CliJson.Default.CliConfig) ?? new CliConfig();
                config = config with
                {
                    Endpoint = fromFile.Endpoint ?? config.Endpoint,
                    AccessKeyId = fromFile.AccessKeyId ?? config.AccessKeyId,
                    AccessKeySecret = fromFile.AccessKeySecret ?? config.AccessKeySecret,
                };
            }
            config = config with
            {
                Endpoint = result.GetValue(endpoint) ?? config.Endpoint,
                AccessKeyId = result.GetValue(keyId) ?? config.AccessKeyId,
                AccessKeySecret = result.GetValue(secret) ?? config.AccessKeySecret,
            };
            if (config.Endpoint is null || !Uri.TryCreate(config.Endpoint, UriKind.Absolute, out _))
                return await FailAsync(UsageError, "An endpoint such as http://127.0.0.1:5080 is required (--endpoint or --credentials-file).");
            if (config.AccessKeyId is null || config.AccessKeySecret is null)
                return await FailAsync(UsageError, "An access key id and secret are required (--access-key-id/--access-key-secret or --credentials-file).");
            config.Save(path);
            await stdout.WriteLineAsync($"Saved endpoint {config.Endpoint} and access key {config.AccessKeyId} to {path}.");
            return Ok;
        });
        return command;
    }

    private Command ApiCommand(Option<string?> configOption)
    {
        var method = new Argument<string>("METHOD") { Description = "GET, POST, PUT, PATCH or DELETE." };
        var path = new Argument<string>("PATH") { Description = "Request path, e.g. /api/v1/workspaces." };
        var body = new Option<string?>("--body") { Description = "JSON body, or @file to read it from a file." };
        var query = new Option<string[]>("--query") { Description = "Query parameter k=v (repeatable).", AllowMultipleArgumentsPerToken = false };
        var action = new Option<string?>("--action") { Description = "x-acs-action header (the API name); optional, the path routes the call." };
        var command = new Command("api", "Sign and send any request; print the JSON response.") { method, path, body, query, action };
        command.SetAction(async (result, ct) =>
        {
            var config = CliConfig.Resolve(result.GetValue(configOption) ?? CliConfig.DefaultPath(environment), environment);
            if (config.Endpoint is null || config.AccessKeyId is null || config.AccessKeySecret is null)
                return await FailAsync(UsageError, "Not configured: run 'rayfleet configure' first, or set RAYFLEET_ENDPOINT, RAYFLEET_ACCESS_KEY_ID and RAYFLEET_ACCESS_KEY_SECRET.");

            var verb = result.GetValue(method)!.ToUpperInvariant();
            if (verb is not ("GET" or "POST" or "PUT" or "PATCH" or "DELETE"))
                return await FailAsync(UsageError, $"METHOD must be GET, POST, PUT, PATCH or DELETE, not '{verb}'.");

            byte[] payload = [];
            if (result.GetValue(body) is { } bodyText)
            {
                var json = bodyText.StartsWith('@') ? await ReadFileAsync(bodyText[1..], ct) : bodyText;
                if (json is null) return await FailAsync(UsageError, $"Cannot read body file '{bodyText[1..]}'.");
                try
                {
                    using var _ = JsonDocument.Parse(json);
                }
                catch (JsonException ex)
                {
                    return await FailAsync(UsageError, $"--body is not valid JSON: {ex.Message}");
                }
                payload = Encoding.UTF8.GetBytes(json);
            }

            var target = BuildTarget(config.Endpoint, result.GetValue(path)!, result.GetValue(query) ?? []);
            if (target is null) return await FailAsync(UsageError, "--query values must look like key=value.");

            using var request = new HttpRequestMessage(new HttpMethod(verb), target);
            if (payload.Length > 0)
            {
                request.Content = new ByteArrayContent(payload);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
            }
            request.Headers.Accept.ParseAdd("application/json");
            Acs3RequestSigner.Sign(request, payload, new AccessKey(config.AccessKeyId, config.AccessKeySecret), DateTimeOffset.UtcNow, result.GetValue(action));

            using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, ct);
            }
            catch (HttpRequestException ex)
            {
                return await FailAsync(Unreachable, $"Cannot reach {config.Endpoint}: {ex.Message}");
            }
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                var pretty = Pretty(text);
                if (response.IsSuccessStatusCode)
                {
                    await stdout.WriteLineAsync(pretty);
                    return Ok;
                }
                await stderr.WriteLineAsync($"HTTP {(int)response.StatusCode}");
                await stderr.WriteLineAsync(pretty);
                return ApiError;
            }
        });
        return command;
    }

    internal static Uri? BuildTarget(string endpoint, string path, IEnumerable<string> query)
    {
        var pairs = new List<string>();
        foreach (var item in query)
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) return null;
            pairs.Add(Acs3Signature.PercentEncode(item[..eq]) + "=" + Acs3Signature.PercentEncode(item[(eq + 1)..]));
        }
        var baseUri = endpoint.TrimEnd('/');
        var full = baseUri + (path.StartsWith('/') ? path : "/" + path);
        if (pairs.Count > 0) full += (full.Contains('?', StringComparison.Ordinal) ? "&" : "?") + string.Join('&', pairs);
        return Uri.TryCreate(full, UriKind.Absolute, out var uri) ? uri : null;
    }

    private static string Pretty(string text)
    {
        try
        {
            return JsonNode.Parse(text)?.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) ?? text;
        }
        catch (JsonException)
        {
            return text;
        }
    }

    private static async Task<string?> ReadFileAsync(string file, CancellationToken ct)
    {
        try
        {
            return await File.ReadAllTextAsync(file, ct);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task<int> FailAsync(int code, string message)
    {
        await stderr.WriteLineAsync("rayfleet: " + message);
        return code;
    }
}
