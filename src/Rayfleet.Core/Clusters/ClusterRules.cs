using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Clusters;

/// <summary>What the validator needs to know about the workspace and the catalogues.</summary>
public interface IClusterCatalog
{
    string DefaultReleaseVersion { get; }
    bool ReleaseVersionExists(string displayReleaseVersion);
    /// <summary>GPUs per node of a GPU instance type, or null when the catalogue has no such type.</summary>
    int? GpuCount(string gpuSpec);
    bool QueueExists(string queueName);
    bool NetworkServiceExists(string name);
    bool VolumeExists(string volumeId);
}

/// <summary>
/// Request rules of semantics.md. Validation reports every broken rule at once; a valid request becomes an
/// immutable <see cref="ClusterSpec"/>.
/// </summary>
public static partial class ClusterRules
{
    public const int DefaultIdleTimeoutSeconds = 60;
    public const int MaxWorkerGroups = 50;

    // What one request can make the service hold (README, Limits). Each rule names the field and the limit.

    /// <summary>Nodes of one cluster, head included, counting maxReplica with autoscaling on: Ray's tested scale.</summary>
    public const int MaxNodesPerCluster = 2000;
    public const int MaxEnvVariables = 64;
    public const int MaxEnvNameLength = 128;
    public const int MaxEnvValueLength = 4096;
    /// <summary>Characters of one group's <c>env</c>, separators included.</summary>
    public const int MaxEnvLength = 8192;
    public const int MaxRayStartParams = 32;
    /// <summary>Characters of one group's <c>rayStartParams</c>.</summary>
    public const int MaxRayStartParamsLength = 2048;
    /// <summary>Characters of the <c>env</c> and <c>rayStartParams</c> of the head and every worker group together.</summary>
    public const int MaxClusterSettingsLength = 65_536;
    /// <summary>UTF-8 bytes of <c>extraParam</c>.</summary>
    public const int MaxExtraParamBytes = 16_384;
    public const int MaxExtraParamDepth = 32;
    public const int MaxVolumes = 32;
    public const int MaxRedisUrlLength = 1024;
    public const int MaxRedisUsernameLength = 256;
    public const int MaxRedisPasswordLength = 1024;
    /// <summary>How much of a value a message echoes.</summary>
    private const int ShownLength = 64;
    public const string DefaultQueue = "root_queue";
    public const string MaskedSecret = "******";

    private static readonly HashSet<string> OwnedFlags = new(StringComparer.Ordinal) { "--address", "--port", "--head", "--block" };

    // The group name becomes the pod label value ray.io/group (KubeRay pod.go labelPod), so it must end, as it starts,
    // with an alphanumeric character: a label value may not end in '-'.
    [GeneratedRegex("^[A-Za-z](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex GroupNamePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*\\z", RegexOptions.CultureInvariant)]
    private static partial Regex EnvNamePattern();

    public static bool SameGroup(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    public static (ClusterSpec? Spec, IReadOnlyList<Problem> Problems) Validate(RayClusterRequest request, IClusterCatalog catalog)
    {
        var problems = new List<Problem>();

        if (request.Name is null) problems.Add(Missing("name"));
        else if (request.Name.Length is < 1 or > 64) problems.Add(Invalid("name", "must be 1 to 64 characters"));
        else if (request.Name.Any(char.IsControl)) problems.Add(Invalid("name", "must not contain control characters"));

        if (request.Description is { Length: > 256 }) problems.Add(Invalid("description", "must be at most 256 characters"));

        var release = request.DisplayReleaseVersion ?? catalog.DefaultReleaseVersion;
        CheckRelease(request.DisplayReleaseVersion, "displayReleaseVersion", catalog, problems);

        if (request.NetworkServiceName is not null && !catalog.NetworkServiceExists(request.NetworkServiceName))
            problems.Add(new Problem(ErrorCodes.NetworkServiceNotFound, "networkServiceName",
                $"networkServiceName: no network service named {Shown(request.NetworkServiceName)} exists in the workspace."));

        CheckExtraParam(request.ExtraParam, problems);

        var volumes = ImmutableList.CreateBuilder<string>();
        if (request.VolumeIds is not null)
        {
            if (request.VolumeIds.Count > MaxVolumes)
                problems.Add(Invalid("volumeIds", $"must list at most {MaxVolumes} volumes, got {request.VolumeIds.Count}"));
            // Past the limit nothing is looked at: the answer stays as small as the rule.
            for (var i = 0; i < Math.Min(request.VolumeIds.Count, MaxVolumes); i++)
            {
                var id = request.VolumeIds[i];
                if (string.IsNullOrEmpty(id)) problems.Add(Invalid($"volumeIds[{i}]", "must be a volume id"));
                else if (!catalog.VolumeExists(id))
                    problems.Add(new Problem(ErrorCodes.VolumeNotFound, $"volumeIds[{i}]", $"volumeIds[{i}]: volume {Shown(id)} does not exist in the workspace."));
                else if (volumes.Contains(id)) problems.Add(Invalid($"volumeIds[{i}]", $"volume '{id}' is listed twice"));
                else volumes.Add(id);
            }
        }

        var head = request.HeadSpec;
        var autoscaling = head?.EnableAutoScaling ?? false;
        if (head is null)
        {
            problems.Add(Missing("headSpec"));
        }
        else
        {
            if (head.Cpu is null) problems.Add(Missing("headSpec.cpu"));
            else CheckCpu(head.Cpu, "headSpec.cpu", problems);
            if (head.Memory is null) problems.Add(Missing("headSpec.memory"));
            else CheckMemory(head.Memory, "headSpec.memory", problems);
            CheckQueue(head.QueueName, "headSpec.queueName", catalog, problems);
            if (head.IdleTimeoutSeconds is { } idle && idle is < 10 or > 86400)
                problems.Add(Invalid("headSpec.idleTimeoutSeconds", "must be between 10 and 86400"));
            CheckGpu(head.GpuSpec, "headSpec.gpuSpec", catalog, problems);
            CheckRelease(head.DisplayReleaseVersion, "headSpec.displayReleaseVersion", catalog, problems);
            CheckEnv(head.Env, "headSpec.env", problems);
            CheckRayStartParams(head.RayStartParams, head.Cpu, "headSpec.rayStartParams", problems);
            if (head.GftEnabled == true && string.IsNullOrWhiteSpace(head.GftConfig?.RedisUrl))
                problems.Add(Invalid("headSpec.gftConfig.redisUrl", "is required when gftEnabled is true"));
            CheckLength(head.GftConfig?.RedisUrl, "headSpec.gftConfig.redisUrl", MaxRedisUrlLength, problems);
            CheckLength(head.GftConfig?.RedisUsername, "headSpec.gftConfig.redisUsername", MaxRedisUsernameLength, problems);
            CheckLength(head.GftConfig?.RedisPassword, "headSpec.gftConfig.redisPassword", MaxRedisPasswordLength, problems);
        }

        var groups = ImmutableList.CreateBuilder<WorkerGroupSpec>();
        if (request.WorkerSpec is { } workers)
        {
            if (workers.Count > MaxWorkerGroups)
                problems.Add(Invalid("workerSpec", $"must have at most {MaxWorkerGroups} worker groups, got {workers.Count}"));
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            // Past the limit nothing is looked at: the answer stays as small as the rule.
            for (var i = 0; i < Math.Min(workers.Count, MaxWorkerGroups); i++)
            {
                var group = ValidateGroup(workers[i], $"workerSpec[{i}]", autoscaling, catalog, seen, problems);
                if (group is not null) groups.Add(group);
            }
            CheckClusterSize(workers.Take(MaxWorkerGroups), autoscaling, problems);
        }
        CheckSettingsLength(head, request.WorkerSpec, problems);

        if (problems.Count > 0 || head is null) return (null, problems);

        var spec = new ClusterSpec
        {
            Name = request.Name!,
            Description = request.Description,
            DisplayReleaseVersion = release,
            NetworkServiceName = request.NetworkServiceName,
            ExtraParam = request.ExtraParam,
            VolumeIds = volumes.ToImmutable(),
            Head = new HeadGroupSpec
            {
                Cpu = head.Cpu!,
                Memory = head.Memory!,
                QueueName = head.QueueName ?? DefaultQueue,
                EnableAutoScaling = autoscaling,
                IdleTimeoutSeconds = head.IdleTimeoutSeconds ?? DefaultIdleTimeoutSeconds,
                GpuSpec = head.GpuSpec,
                DisplayReleaseVersion = head.DisplayReleaseVersion,
                Env = head.Env,
                RayStartParams = head.RayStartParams,
                GftEnabled = head.GftEnabled,
                GftConfig = head.GftConfig is null
                    ? null
                    : new GftSettings(head.GftConfig.RedisUrl, head.GftConfig.RedisUsername, head.GftConfig.RedisPassword),
            },
            Workers = groups.ToImmutable(),
        };
        return (spec, problems);
    }

    private static WorkerGroupSpec? ValidateGroup(
        WorkerSpecDto? dto, string path, bool autoscaling, IClusterCatalog catalog, HashSet<string> seen, List<Problem> problems)
    {
        if (dto is null)
        {
            problems.Add(Invalid(path, "must be a worker group object"));
            return null;
        }

        var before = problems.Count;
        if (dto.GroupName is null) problems.Add(Invalid($"{path}.groupName", "is required"));
        else if (!GroupNamePattern().IsMatch(dto.GroupName))
            problems.Add(Invalid($"{path}.groupName", "must be 1 to 40 letters, digits or '-', starting with a letter and ending with a letter or digit (it becomes a Kubernetes label value)"));
        else if (!seen.Add(dto.GroupName))
            problems.Add(Invalid($"{path}.groupName", $"'{dto.GroupName}' is used by another group (names are compared ignoring case)"));

        var workerType = dto.WorkerType ?? "CPU";
        var isGpu = string.Equals(workerType, "GPU", StringComparison.OrdinalIgnoreCase);
        if (!isGpu && !string.Equals(workerType, "CPU", StringComparison.OrdinalIgnoreCase))
            problems.Add(Invalid($"{path}.workerType", "must be CPU or GPU"));
        if (isGpu && dto.GpuSpec is null)
            problems.Add(Invalid($"{path}.gpuSpec", "is required when workerType is GPU"));
        CheckGpu(dto.GpuSpec, $"{path}.gpuSpec", catalog, problems);

        if (dto.Cpu is null) problems.Add(Invalid($"{path}.cpu", "is required"));
        else CheckCpu(dto.Cpu, $"{path}.cpu", problems);
        if (dto.Memory is null) problems.Add(Invalid($"{path}.memory", "is required"));
        else CheckMemory(dto.Memory, $"{path}.memory", problems);

        var replica = dto.Replica ?? 1;
        var min = dto.MinReplica ?? 1;
        var max = dto.MaxReplica ?? Math.Max(replica, min);
        CheckReplica(replica, $"{path}.replica", problems);
        CheckReplica(min, $"{path}.minReplica", problems);
        // A maxReplica left out follows replica and minReplica, and is only as wrong as they are.
        if (dto.MaxReplica is not null) CheckReplica(max, $"{path}.maxReplica", problems);
        if (min > max) problems.Add(Invalid($"{path}.minReplica", $"must be at most maxReplica ({max}), got {min}"));
        if (autoscaling && min <= max && (replica < min || replica > max))
            problems.Add(Invalid($"{path}.replica", $"must be between minReplica ({min}) and maxReplica ({max}) when autoscaling is on, got {replica}"));

        CheckQueue(dto.QueueName, $"{path}.queueName", catalog, problems);
        CheckRelease(dto.DisplayReleaseVersion, $"{path}.displayReleaseVersion", catalog, problems);
        CheckEnv(dto.Env, $"{path}.env", problems);
        CheckRayStartParams(dto.RayStartParams, dto.Cpu, $"{path}.rayStartParams", problems);

        if (problems.Count > before) return null;
        return new WorkerGroupSpec
        {
            GroupName = dto.GroupName!,
            WorkerType = workerType,
            Replica = replica,
            MinReplica = min,
            MaxReplica = max,
            Cpu = dto.Cpu!,
            Memory = dto.Memory!,
            QueueName = dto.QueueName ?? DefaultQueue,
            GpuSpec = dto.GpuSpec,
            DisplayReleaseVersion = dto.DisplayReleaseVersion,
            Env = dto.Env,
            RayStartParams = dto.RayStartParams,
        };
    }

    private static void CheckReplica(int value, string field, List<Problem> problems)
    {
        if (value < 1) problems.Add(Invalid(field, "must be at least 1"));
        else if (value > MaxNodesPerCluster) problems.Add(Invalid(field, $"must be at most {MaxNodesPerCluster}, got {value}"));
    }

    /// <summary>The nodes the cluster may run at most: the head, and each group at maxReplica with autoscaling, else at replica.</summary>
    private static void CheckClusterSize(IEnumerable<WorkerSpecDto?> workers, bool autoscaling, List<Problem> problems)
    {
        long nodes = 1;
        foreach (var dto in workers)
        {
            if (dto is null) continue;
            var replica = dto.Replica ?? 1;
            var max = dto.MaxReplica ?? Math.Max(replica, dto.MinReplica ?? 1);
            nodes += Math.Max(0, autoscaling ? max : replica);
        }
        if (nodes > MaxNodesPerCluster)
            problems.Add(Invalid("workerSpec",
                $"a cluster has at most {MaxNodesPerCluster} nodes including the head (maxReplica counts when autoscaling is on), this one would have {nodes}"));
    }

    private static void CheckSettingsLength(HeadSpecDto? head, List<WorkerSpecDto?>? workers, List<Problem> problems)
    {
        long total = (head?.Env?.Length ?? 0) + (head?.RayStartParams?.Length ?? 0);
        foreach (var dto in workers ?? []) total += (dto?.Env?.Length ?? 0) + (dto?.RayStartParams?.Length ?? 0);
        if (total > MaxClusterSettingsLength)
            problems.Add(Invalid("workerSpec",
                $"env and rayStartParams of the head and all worker groups together must be at most {MaxClusterSettingsLength} characters, got {total}"));
    }

    private static void CheckLength(string? value, string field, int max, List<Problem> problems)
    {
        if (value is { Length: var length } && length > max)
            problems.Add(Invalid(field, $"must be at most {max} characters, got {length}"));
    }

    internal static void CheckExtraParam(string? extraParam, List<Problem> problems)
    {
        if (extraParam is null) return;
        var bytes = System.Text.Encoding.UTF8.GetByteCount(extraParam);
        if (bytes > MaxExtraParamBytes)
        {
            problems.Add(Invalid("extraParam", $"must be at most {MaxExtraParamBytes} bytes of UTF-8, got {bytes}"));
            return;
        }
        try
        {
            using var doc = JsonDocument.Parse(extraParam, new JsonDocumentOptions { MaxDepth = MaxExtraParamDepth });
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(SimulatedBehaviour.Section, out var simulated))
                SimulatedBehaviour.Read(simulated, problems);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(ClusterExtensions.IdleStop, out var idle))
                ClusterExtensions.Read(idle, problems);
        }
        catch (JsonException)
        {
            problems.Add(Invalid("extraParam", $"must be a JSON document nested at most {MaxExtraParamDepth} levels deep"));
        }
    }

    private static void CheckCpu(string value, string field, List<Problem> problems)
    {
        if (Quantity.ParseCpuMillis(value) is null)
            problems.Add(Invalid(field, $"{Shown(value)} is not a positive CPU amount (cores such as \"2\" or \"0.5\", or millicores such as \"500m\")"));
    }

    private static void CheckMemory(string value, string field, List<Problem> problems)
    {
        if (Quantity.ParseMemoryBytes(value) is null)
            problems.Add(Invalid(field, $"{Shown(value)} is not a positive memory quantity (such as \"8Gi\", \"512Mi\" or \"8G\")"));
    }

    private static void CheckQueue(string? queue, string field, IClusterCatalog catalog, List<Problem> problems)
    {
        var name = queue ?? DefaultQueue;
        if (!catalog.QueueExists(name))
            problems.Add(new Problem(ErrorCodes.QueueNotFound, field, $"{field}: queue {Shown(name)} does not exist in the workspace."));
    }

    private static void CheckGpu(string? gpuSpec, string field, IClusterCatalog catalog, List<Problem> problems)
    {
        if (gpuSpec is not null && catalog.GpuCount(gpuSpec) is null)
            problems.Add(new Problem(ErrorCodes.GpuSpecNotFound, field, $"{field}: GPU instance type {Shown(gpuSpec)} is not in the GPU catalogue."));
    }

    private static void CheckRelease(string? release, string field, IClusterCatalog catalog, List<Problem> problems)
    {
        if (release is not null && !catalog.ReleaseVersionExists(release))
            problems.Add(new Problem(ErrorCodes.ReleaseVersionNotFound, field, $"{field}: release version {Shown(release)} is not in the catalogue."));
    }

    private static void CheckEnv(string? env, string field, List<Problem> problems)
    {
        if (env is null) return;
        if (env.Length > MaxEnvLength)
        {
            problems.Add(Invalid(field, $"must be at most {MaxEnvLength} characters, got {env.Length}"));
            return;
        }
        var lines = env.Split('\n');
        var variables = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0) continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !EnvNamePattern().IsMatch(line[..eq]))
            {
                problems.Add(Invalid(field, $"line {i + 1} must be KEY=VALUE with a POSIX variable name"));
                return;
            }
            if (eq > MaxEnvNameLength)
            {
                problems.Add(Invalid(field, $"line {i + 1}: a variable name must be at most {MaxEnvNameLength} characters, got {eq}"));
                return;
            }
            if (line.Length - eq - 1 > MaxEnvValueLength)
            {
                problems.Add(Invalid(field, $"line {i + 1}: a value must be at most {MaxEnvValueLength} characters, got {line.Length - eq - 1}"));
                return;
            }
            if (++variables > MaxEnvVariables)
            {
                problems.Add(Invalid(field, $"must set at most {MaxEnvVariables} variables"));
                return;
            }
        }
    }

    private static void CheckRayStartParams(string? parameters, string? cpu, string field, List<Problem> problems)
    {
        if (parameters is { Length: > MaxRayStartParamsLength })
        {
            problems.Add(Invalid(field, $"must be at most {MaxRayStartParamsLength} characters, got {parameters.Length}"));
            return;
        }
        if (!RayStartOptions.TryParse(parameters, MaxRayStartParams, out var options, out var error))
        {
            problems.Add(Invalid(field, error!));
            return;
        }
        if (options.Options.FirstOrDefault(o => OwnedFlags.Contains("--" + o.Name)) is { } owned)
        {
            problems.Add(Invalid(field, $"--{owned.Name} is set by Rayfleet and cannot be passed"));
            return;
        }
        if (options.CheckValues() is { } bad)
        {
            problems.Add(Invalid(field, bad));
            return;
        }
        // Ray's logical CPUs must not exceed what the queue accounts for the node (README, "Fractional CPU").
        if (options.Find("num-cpus")?.Value is { } cpus && Quantity.ParseCpuMillis(cpu) is { } milli
            && long.Parse(cpus, System.Globalization.CultureInfo.InvariantCulture) > RayStartOptions.WholeCores(milli))
            problems.Add(Invalid(field,
                $"--num-cpus={cpus} is more than the {RayStartOptions.WholeCores(milli)} whole cores of cpu {Shown(cpu!)}; Ray would schedule more CPUs than the queue accounts"));
    }

    /// <summary>Parsed env lines, in order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ParseEnv(string? env) =>
        (env ?? "").Split('\n')
            .Select(l => l.TrimEnd('\r'))
            .Where(l => l.Length > 0 && l.Contains('=', StringComparison.Ordinal))
            .Select(l => new KeyValuePair<string, string>(l[..l.IndexOf('=', StringComparison.Ordinal)], l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]))
            .ToList();

    private static Problem Missing(string field) =>
        new(ErrorCodes.Missing(field), field, $"{field} is required.");

    internal static Problem Invalid(string field, string rule) =>
        new(ErrorCodes.InvalidParameter, field, $"The specified parameter {field} is not valid: {rule}.");

    /// <summary>A value as a message quotes it: at most 64 characters, so an error never echoes a whole body.</summary>
    public static string Shown(string value) =>
        value.Length <= ShownLength ? $"'{value}'" : $"'{value[..ShownLength]}...' ({value.Length} characters)";
}
