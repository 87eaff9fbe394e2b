using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Rayfleet.Core.Capacity;
using Rayfleet.Core.Clusters;
using Rayfleet.Core.Contracts;

namespace Rayfleet.Core.Workspaces;

/// <summary>What the workspace rules need to know about the catalogues and the workspace.</summary>
public interface IWorkspaceCatalog
{
    bool GpuTypeExists(string instanceType);
    bool QueueExists(string queueName);
}

/// <summary>
/// Request rules of CreateWorkspace and UpdateWorkspace, one place for both: every broken rule at once, each naming
/// its field path.
/// </summary>
public static partial class WorkspaceRules
{
    public const int MaxNameLength = 64;
    public const decimal MaxCu = 1_000_000_000;
    public const int MaxGpuSpecs = 32;
    public const int MaxIpWhiteListEntries = 100;

    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\z", RegexOptions.CultureInvariant)]
    private static partial Regex DottedQuad();

    public static void CheckName(string? name, bool required, List<Problem> problems)
    {
        if (name is null)
        {
            if (required) problems.Add(new(ErrorCodes.Missing("workspaceName"), "workspaceName", "workspaceName is required."));
        }
        else if (name.Length is < 1 or > MaxNameLength || name.Any(char.IsControl))
        {
            problems.Add(Invalid("workspaceName", $"must be 1 to {MaxNameLength} characters without control characters"));
        }
    }

    public static void CheckCu(decimal cu, string field, List<Problem> problems)
    {
        if (cu is <= 0 or > MaxCu) problems.Add(Invalid(field, $"must be a positive number of CU up to {MaxCu:0}"));
    }

    public static void CheckGpu(int gpu, string field, List<Problem> problems)
    {
        if (gpu < 0) problems.Add(Invalid(field, "must not be negative"));
    }

    /// <summary>Each entry names a type of the GPU catalogue (<c>GET /api/v1/gpuSpecs</c>).</summary>
    public static void CheckGpuSpec(IReadOnlyList<string?>? gpuSpec, IWorkspaceCatalog catalog, List<Problem> problems)
    {
        if (gpuSpec is null) return;
        if (gpuSpec.Count > MaxGpuSpecs)
        {
            problems.Add(Invalid("gpuSpec", $"must have at most {MaxGpuSpecs} entries, got {gpuSpec.Count}"));
            return;
        }
        for (var i = 0; i < gpuSpec.Count; i++)
        {
            var field = $"gpuSpec[{i}]";
            if (gpuSpec[i] is not { } type) problems.Add(Invalid(field, "must be a GPU instance type, not null"));
            else if (!catalog.GpuTypeExists(type))
                problems.Add(new(ErrorCodes.GpuSpecNotFound, field, $"{field}: GPU instance type {ClusterRules.Shown(type)} is not in the GPU catalogue."));
        }
    }

    /// <summary>
    /// The payment terms, strings on the wire that ListWorkspaces answers typed: <c>autoRenew</c> a boolean,
    /// <c>duration</c> and <c>autoRenewPeriod</c> whole numbers from 1.
    /// </summary>
    public static void CheckPaymentTerms(string prefix, string? autoRenew, string? duration, string? autoRenewPeriod, List<Problem> problems)
    {
        if (autoRenew is not null && ParseBool(autoRenew) is null)
            problems.Add(Invalid(prefix + "autoRenew", $"must be true or false, got {ClusterRules.Shown(autoRenew)}"));
        if (duration is not null && ParsePositiveInt(duration) is null)
            problems.Add(Invalid(prefix + "duration", $"must be a whole number from 1, got {ClusterRules.Shown(duration)}"));
        if (autoRenewPeriod is not null && ParsePositiveInt(autoRenewPeriod) is null)
            problems.Add(Invalid(prefix + "autoRenewPeriod", $"must be a whole number from 1, got {ClusterRules.Shown(autoRenewPeriod)}"));
    }

    public static bool? ParseBool(string? text) =>
        text is not null && bool.TryParse(text, out var value) && text.Trim().Length == text.Length ? value : null;

    public static int? ParsePositiveInt(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 ? value : null;

    public static void CheckIpWhiteList(IReadOnlyList<string?>? entries, List<Problem> problems)
    {
        if (entries is null) return;
        if (entries.Count > MaxIpWhiteListEntries)
        {
            problems.Add(Invalid("ipWhiteList", $"must have at most {MaxIpWhiteListEntries} entries, got {entries.Count}"));
            return;
        }
        for (var i = 0; i < entries.Count; i++)
        {
            if (WhyNotAddressOrCidr(entries[i]) is { } why) problems.Add(Invalid($"ipWhiteList[{i}]", why));
        }
    }

    /// <summary>
    /// Null when <paramref name="entry"/> is an IPv4 or IPv6 address or a CIDR block (<c>10.0.0.0/8</c>,
    /// <c>2001:db8::/32</c>); otherwise why not. IPv4 only in its dotted-quad form: the parser's other forms
    /// (<c>10.1</c>, <c>0x0a000001</c>) read as different addresses than a person means.
    /// </summary>
    public static string? WhyNotAddressOrCidr(string? entry)
    {
        if (entry is null) return "must be an IPv4 or IPv6 address or CIDR block, not null";
        var shown = ClusterRules.Shown(entry);
        var slash = entry.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? entry : entry[..slash];
        IPAddress? address;
        if (addressText.Contains(':', StringComparison.Ordinal))
        {
            // A zone (fe80::1%eth0) names an interface of some host, not an address a list can hold.
            if (addressText.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(addressText, out address)
                || address.AddressFamily != AddressFamily.InterNetworkV6)
                return $"{shown} is not an IPv4 or IPv6 address or CIDR block";
        }
        else if (!DottedQuad().IsMatch(addressText) || !IPAddress.TryParse(addressText, out address))
        {
            return $"{shown} is not an IPv4 or IPv6 address or CIDR block (IPv4 as four decimal numbers, such as 192.168.0.1)";
        }
        if (slash < 0) return null;

        var bits = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        var prefixText = entry[(slash + 1)..];
        if (prefixText.Length is < 1 or > 3 || !int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix > bits)
            return $"{shown} has a prefix length that is not a number from 0 to {bits}";
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bits; bit++)
        {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0)
                return $"{shown} has address bits set past the /{prefix} prefix; write the block's first address ({new IPNetwork(Mask(bytes, prefix), prefix)})";
        }
        return null;
    }

    private static IPAddress Mask(byte[] bytes, int prefix)
    {
        var masked = (byte[])bytes.Clone();
        for (var bit = prefix; bit < masked.Length * 8; bit++) masked[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(masked);
    }

    /// <summary>
    /// Every rule of an UpdateWorkspace request except the ones that need the store (the workspace exists, the capacity
    /// in use: <see cref="CheckCapacityInUse"/>).
    /// </summary>
    public static IReadOnlyList<Problem> ValidateUpdate(UpdateWorkspaceRequest request, IWorkspaceCatalog catalog)
    {
        var problems = new List<Problem>();
        CheckName(request.WorkspaceName, required: false, problems);
        if (request.Cu is { } cu) CheckCu(cu, "cu", problems);
        if (request.Gpu is { } gpu) CheckGpu(gpu, "gpu", problems);
        CheckGpuSpec(request.GpuSpec, catalog, problems);
        CheckIpWhiteList(request.IpWhiteList, problems);

        if (request.Subscription is { } subscription)
        {
            CheckPaymentTerms("subscription.", subscription.AutoRenew, subscription.Duration, subscription.AutoRenewPeriod, problems);
            if (subscription.Queue is { } queues)
            {
                for (var i = 0; i < queues.Count; i++)
                {
                    var field = $"subscription.queue[{i}]";
                    if (queues[i] is not { } queue) problems.Add(Invalid(field, "must be a queue name, not null"));
                    else if (!catalog.QueueExists(queue))
                        problems.Add(new(ErrorCodes.QueueNotFound, field, $"{field}: queue {ClusterRules.Shown(queue)} does not exist in the workspace."));
                }
            }
            if (request.ClientToken is not null && subscription.ClientToken is not null && request.ClientToken != subscription.ClientToken)
                problems.Add(Invalid("clientToken", "differs from subscription.clientToken; send the token once, or the same in both"));
        }

        if (request.GpuSubscription is { } gpuSubscription)
        {
            if (gpuSubscription.Duration is < 1) problems.Add(Invalid("gpuSubscription.duration", "must be at least 1"));
            if (gpuSubscription.GpuMachineNum is < 0) problems.Add(Invalid("gpuSubscription.gpuMachineNum", "must not be negative"));
            if (gpuSubscription.InstanceTypeId is { } type && !catalog.GpuTypeExists(type))
                problems.Add(new(ErrorCodes.GpuSpecNotFound, "gpuSubscription.instanceTypeId",
                    $"gpuSubscription.instanceTypeId: GPU instance type {ClusterRules.Shown(type)} is not in the GPU catalogue."));
        }
        return problems;
    }

    /// <summary>
    /// A workspace's cu and gpu are the capacity of its root queue: never below what admitted clusters hold there now,
    /// so a change never strands running clusters over their queue.
    /// </summary>
    public static void CheckCapacityInUse(int? cu, int? gpu, string queue, Resources inUse, List<Problem> problems)
    {
        if (cu is { } c && c > 0 && c < inUse.Cu)
            problems.Add(Invalid("cu", $"{c} is below the {Quantity.FormatCu(inUse.Cu)} CU that running clusters hold in queue '{queue}'; stop some first"));
        if (gpu is { } g && g >= 0 && g < inUse.Gpu)
            problems.Add(Invalid("gpu", $"{g} is below the {inUse.Gpu} GPU that running clusters hold in queue '{queue}'; stop some first"));
    }

    private static Problem Invalid(string field, string rule) =>
        new(ErrorCodes.InvalidParameter, field, $"The specified parameter {field} is not valid: {rule}.");
}
