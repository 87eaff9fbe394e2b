using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Rayfleet.Core.Capacity;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// <c>Rayfleet:Kubernetes</c>. The provider is registered only when one way to reach an API server is configured:
/// <see cref="InCluster"/>, <see cref="KubeconfigPath"/> or <see cref="Host"/>.
/// </summary>
public sealed class KubernetesProviderOptions
{
    public const string Section = "Rayfleet:Kubernetes";

    /// <summary>Use the pod's service account (Rayfleet runs inside the cluster).</summary>
    public bool InCluster { get; set; }

    /// <summary>A kubeconfig file (Rayfleet runs outside the cluster); <see cref="KubeconfigContext"/> picks a context.</summary>
    public string? KubeconfigPath { get; set; }

    public string? KubeconfigContext { get; set; }

    /// <summary>An API server URL without credentials, such as <c>kubectl proxy</c>'s <c>http://127.0.0.1:8001</c>.</summary>
    public string? Host { get; set; }

    /// <summary>Namespace of a workspace that <see cref="Namespaces"/> does not name; must contain <c>{workspaceId}</c>.</summary>
    public string NamespacePattern { get; set; } = "rayfleet-{workspaceId}";

    /// <summary>Explicit namespace per workspace id.</summary>
    public Dictionary<string, string> Namespaces { get; set; } = [];

    /// <summary>Create a workspace's namespace when it is missing.</summary>
    public bool CreateNamespaces { get; set; } = true;

    /// <summary>
    /// Watch RayClusters and pods in every namespace with one watch each (needs a ClusterRole), or, when false, one
    /// watch per namespace that Rayfleet uses (the explicit ones from the start, the others once a cluster is applied).
    /// </summary>
    public bool WatchAllNamespaces { get; set; } = true;

    /// <summary>Field manager of server-side apply.</summary>
    public string FieldManager { get; set; } = "rayfleet";

    /// <summary>
    /// Where users reach clusters from outside (an ingress or gateway). <c>{clusterId}</c> and <c>{namespace}</c> are
    /// replaced; without them the cluster id is appended as a path segment. Empty: the head service's DNS name.
    /// </summary>
    public string? ExternalBaseUrl { get; set; }

    /// <summary>DNS domain of the cluster's services.</summary>
    public string ClusterDomain { get; set; } = "cluster.local";

    /// <summary>Extended resource name of a GPU.</summary>
    public string GpuResourceName { get; set; } = "nvidia.com/gpu";

    /// <summary>Tolerations added to pods that request GPUs; the default tolerates the usual GPU node taint.</summary>
    public List<TolerationOptions> GpuTolerations { get; set; } =
        [new TolerationOptions { Key = "nvidia.com/gpu", Operator = "Exists", Effect = "NoSchedule" }];

    /// <summary>
    /// CPU of the autoscaler sidecar KubeRay adds to the head pod of an autoscaling cluster, set as its request and
    /// limit in <c>autoscalerOptions.resources</c> and counted in the head's queue demand. KubeRay's own default.
    /// </summary>
    public string AutoscalerCpu { get; set; } = "500m";

    /// <summary>Memory of the autoscaler sidecar, like <see cref="AutoscalerCpu"/>.</summary>
    public string AutoscalerMemory { get; set; } = "512Mi";

    /// <summary>The autoscaler sidecar's resources as the manifest sets them and the queue demand counts them.</summary>
    public AutoscalerFootprint AutoscalerFootprint =>
        new(Quantity.ParseCpuMillis(AutoscalerCpu) ?? 0, Quantity.ParseMemoryBytes(AutoscalerMemory) ?? 0);

    /// <summary>Label RayClusters with <c>kueue.x-k8s.io/queue-name</c> (the head's queue, as a DNS name).</summary>
    public bool KueueQueueLabel { get; set; }

    /// <summary>
    /// Pod-template overlay for clusters attached to a network service. Values may use <c>{networkServiceId}</c>,
    /// <c>{name}</c>, <c>{vpcId}</c>, <c>{vswitchIds}</c> (comma-separated) and <c>{securityGroupId}</c>.
    /// </summary>
    public PodOverlayOptions NetworkOverlay { get; set; } = new()
    {
        Labels = new() { ["rayfleet.io/network-service-id"] = "{networkServiceId}" },
        Annotations = new() { ["rayfleet.io/network-service"] = "{name}" },
    };

    /// <summary>Overlays for particular network services, by name; merged over <see cref="NetworkOverlay"/>.</summary>
    public Dictionary<string, PodOverlayOptions> NetworkServices { get; set; } = [];

    /// <summary>
    /// How Rayfleet reaches a cluster head's dashboard (Ray's Job Submission API, port 8265 of KubeRay's
    /// <c>&lt;cluster&gt;-head-svc</c>) for jobs. <see cref="DashboardAccess.ServiceProxy"/> goes through the API
    /// server's service proxy with Rayfleet's own Kubernetes credentials, so it works from outside the cluster too
    /// (needs <c>services/proxy</c> get and create); <see cref="DashboardAccess.ClusterDns"/> connects to the service's
    /// cluster DNS name directly, which needs Rayfleet inside the cluster (or a route to its pod network).
    /// </summary>
    public DashboardAccess DashboardAccess { get; set; } = DashboardAccess.ServiceProxy;

    /// <summary>
    /// Least <c>ttlSecondsAfterFinished</c> a job-mode cluster's RayJob gets when it shuts down after its job: Rayfleet
    /// deletes the cluster itself at the job's own TTL after copying its nodes' logs, and KubeRay's shutdown, a backstop
    /// for when Rayfleet is down, must not come first. Zero gives KubeRay the job's TTL exactly.
    /// </summary>
    public TimeSpan JobShutdownGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Lines of each Ray container's log copied per pod when a cluster's node logs are collected (the last ones).</summary>
    public int NodeLogTailLines { get; set; } = 20_000;

    /// <summary>Bytes of each Ray container's log copied per pod at most (the API server's <c>limitBytes</c>).</summary>
    public long NodeLogLimitBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Time limit of one API call (watches excepted).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Attempts of one API call on 429, 5xx, timeouts and transport errors.</summary>
    public int RetryAttempts { get; set; } = 5;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest wait between attempts, a server's Retry-After included.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How soon to look again at a cluster that is not steady; watch events usually come first.</summary>
    public TimeSpan PendingPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A watch is closed by the server after this long and resumed from its last resourceVersion.</summary>
    public TimeSpan WatchTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Full re-list of the watched resources, whatever the watches said.</summary>
    public TimeSpan WatchResyncInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a call waits for the first list of the watch before it asks the API server directly.</summary>
    public TimeSpan CacheSyncWait { get; set; } = TimeSpan.FromSeconds(5);

    public bool IsConfigured => InCluster || !string.IsNullOrWhiteSpace(KubeconfigPath) || !string.IsNullOrWhiteSpace(Host);

    public static bool IsConfiguredIn(IConfiguration configuration)
    {
        var options = new KubernetesProviderOptions();
        configuration.GetSection(Section).Bind(options);
        return options.IsConfigured;
    }
}

public enum DashboardAccess
{
    /// <summary><c>/api/v1/namespaces/{ns}/services/{service}:dashboard/proxy/</c> on the API server.</summary>
    ServiceProxy,

    /// <summary><c>http://{service}.{ns}.svc.{ClusterDomain}:8265/</c>.</summary>
    ClusterDns,
}

public sealed class TolerationOptions
{
    public string? Key { get; set; }
    public string Operator { get; set; } = "Exists";
    public string? Value { get; set; }
    public string? Effect { get; set; }
    public long? TolerationSeconds { get; set; }
}

public sealed class PodOverlayOptions
{
    public Dictionary<string, string> Labels { get; set; } = [];
    public Dictionary<string, string> Annotations { get; set; } = [];
    public Dictionary<string, string> NodeSelector { get; set; } = [];
}

public sealed partial class KubernetesProviderOptionsValidator : IValidateOptions<KubernetesProviderOptions>
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\z", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1123Label();

    public static bool IsNamespaceName(string name) => name.Length <= 63 && Dns1123Label().IsMatch(name);

    public ValidateOptionsResult Validate(string? name, KubernetesProviderOptions options)
    {
        var failures = new List<string>();
        var ways = (options.InCluster ? 1 : 0) + (string.IsNullOrWhiteSpace(options.KubeconfigPath) ? 0 : 1) + (string.IsNullOrWhiteSpace(options.Host) ? 0 : 1);
        if (ways > 1) failures.Add("Rayfleet:Kubernetes: set only one of InCluster, KubeconfigPath and Host.");
        if (!string.IsNullOrWhiteSpace(options.KubeconfigPath) && !File.Exists(options.KubeconfigPath))
            failures.Add($"Rayfleet:Kubernetes:KubeconfigPath '{options.KubeconfigPath}' does not exist.");
        if (!string.IsNullOrWhiteSpace(options.Host) && !Uri.TryCreate(options.Host, UriKind.Absolute, out _))
            failures.Add($"Rayfleet:Kubernetes:Host '{options.Host}' is not an absolute URL.");
        if (!options.NamespacePattern.Contains("{workspaceId}", StringComparison.Ordinal))
            failures.Add("Rayfleet:Kubernetes:NamespacePattern must contain {workspaceId}.");
        // Workspace ids are w- plus 16 hex digits: check the pattern with one.
        else if (!IsNamespaceName(options.NamespacePattern.Replace("{workspaceId}", "w-0123456789abcdef", StringComparison.Ordinal)))
            failures.Add($"Rayfleet:Kubernetes:NamespacePattern '{options.NamespacePattern}' does not give DNS-1123 labels of at most 63 characters.");
        foreach (var (workspace, ns) in options.Namespaces)
            if (!IsNamespaceName(ns)) failures.Add($"Rayfleet:Kubernetes:Namespaces:{workspace} '{ns}' is not a DNS-1123 label of at most 63 characters.");
        if (string.IsNullOrWhiteSpace(options.FieldManager) || options.FieldManager.Length > 128)
            failures.Add("Rayfleet:Kubernetes:FieldManager must be 1 to 128 characters.");
        if (options.ExternalBaseUrl is { Length: > 0 } url
            && !Uri.TryCreate(url.Replace("{clusterId}", "c", StringComparison.Ordinal).Replace("{namespace}", "n", StringComparison.Ordinal), UriKind.Absolute, out _))
            failures.Add($"Rayfleet:Kubernetes:ExternalBaseUrl '{url}' is not an absolute URL.");
        foreach (var t in options.GpuTolerations)
            if (t.Operator is not ("Exists" or "Equal"))
                failures.Add($"Rayfleet:Kubernetes:GpuTolerations: operator '{t.Operator}' must be Exists or Equal.");
        if (Quantity.ParseCpuMillis(options.AutoscalerCpu) is null)
            failures.Add($"Rayfleet:Kubernetes:AutoscalerCpu '{options.AutoscalerCpu}' is not a positive CPU quantity such as 500m or 1.");
        if (Quantity.ParseMemoryBytes(options.AutoscalerMemory) is null)
            failures.Add($"Rayfleet:Kubernetes:AutoscalerMemory '{options.AutoscalerMemory}' is not a positive memory quantity such as 512Mi or 1Gi.");
        if (options.RequestTimeout <= TimeSpan.Zero) failures.Add("Rayfleet:Kubernetes:RequestTimeout must be positive.");
        if (options.RetryAttempts < 1) failures.Add("Rayfleet:Kubernetes:RetryAttempts must be at least 1.");
        if (options.RetryBaseDelay < TimeSpan.Zero || options.RetryMaxDelay < options.RetryBaseDelay)
            failures.Add("Rayfleet:Kubernetes:RetryBaseDelay must not be negative and at most RetryMaxDelay.");
        if (options.PendingPollInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Kubernetes:PendingPollInterval must be positive.");
        if (options.WatchTimeout < TimeSpan.FromSeconds(1)) failures.Add("Rayfleet:Kubernetes:WatchTimeout must be at least a second.");
        if (options.JobShutdownGrace < TimeSpan.Zero) failures.Add("Rayfleet:Kubernetes:JobShutdownGrace must not be negative.");
        if (options.NodeLogTailLines < 1) failures.Add("Rayfleet:Kubernetes:NodeLogTailLines must be at least 1.");
        if (options.NodeLogLimitBytes < 1) failures.Add("Rayfleet:Kubernetes:NodeLogLimitBytes must be at least 1.");
        if (options.WatchResyncInterval <= TimeSpan.Zero) failures.Add("Rayfleet:Kubernetes:WatchResyncInterval must be positive.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
