using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace Rayfleet.Server.Providers.Kubernetes;

/// <summary>
/// The API calls on RayClusters, Secrets and namespaces that apply, observe and remove share.
/// </summary>
public sealed partial class KubernetesProvider
{
    private async Task<List<JsonObject>> ListRayClustersAsync(string? ns, string selector, CancellationToken ct)
    {
        var response = await Calls.RunAsync("list rayclusters", c => ns is null
            ? _client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync(Group, Version, Plural, labelSelector: selector, cancellationToken: c)
            : _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, labelSelector: selector, cancellationToken: c), ct);
        using (response)
            return [.. ((ToObject(response.Body)?["items"] as JsonArray) ?? []).OfType<JsonObject>().Select(i => i.DeepClone().AsObject())];
    }

    private async Task<JsonObject?> CurrentAsync(string ns, string name, CancellationToken ct)
    {
        if (await Cache.WaitSyncedAsync(ns, ct)) return Cache.GetCluster(ns, name)?.DeepClone().AsObject();
        return await GetRayClusterAsync(ns, name, ct);
    }

    private async Task<JsonObject?> GetRayClusterAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"get RayCluster {ns}/{name}", c =>
                _client.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, name, cancellationToken: c), ct);
            using (response)
            {
                var o = ToObject(response.Body);
                if (o is not null) Cache.Observe(o);
                return o?.DeepClone().AsObject();
            }
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            return null;
        }
    }

    private async Task<JsonObject> ApplyRayClusterAsync(string ns, string name, JsonObject manifest, CancellationToken ct)
    {
        var body = new V1Patch(manifest.ToJsonString(), V1Patch.PatchType.ApplyPatch);
        var response = await Calls.RunAsync($"apply RayCluster {ns}/{name}", c =>
            _client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync(
                body, Group, Version, ns, Plural, name, fieldManager: _options.FieldManager, fieldValidation: "Strict", force: true, cancellationToken: c), ct);
        using (response)
        {
            var applied = ToObject(response.Body) ?? manifest;
            Cache.Observe(applied);
            var instance = Label(applied, RayfleetLabels.Instance);
            LogApplied(_logger, ns, name, instance);
            return applied.DeepClone().AsObject();
        }
    }

    private async Task DeleteRayClusterAsync(JsonObject live, CancellationToken ct)
    {
        var (ns, name) = NameOf(live);
        // Foreground: the RayCluster stays, with a deletionTimestamp, until KubeRay's pods and services are gone; the
        // uid precondition makes sure the object deleted is the one looked at.
        var options = new V1DeleteOptions
        {
            PropagationPolicy = "Foreground",
            Preconditions = new V1Preconditions { Uid = live["metadata"]?["uid"]?.GetValue<string>() },
        };
        try
        {
            var response = await Calls.RunAsync($"delete RayCluster {ns}/{name}", c =>
                _client.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync(Group, Version, ns, Plural, name, options, propagationPolicy: "Foreground", cancellationToken: c), ct);
            response.Dispose();
            var instance = Label(live, RayfleetLabels.Instance);
            LogDeleting(_logger, ns, name, instance);
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound || ex.IsConflict)
        {
            // Gone already, or replaced since it was read: the next pass looks again.
        }
    }

    private async Task ApplySecretAsync(string ns, ProviderClusterRequest request, string password, CancellationToken ct)
    {
        var name = RayClusterManifest.RedisSecretName(request.ClusterId);
        var secret = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue,
                    [RayfleetLabels.Workspace] = request.WorkspaceId,
                    [RayfleetLabels.Cluster] = request.ClusterId,
                    // Which instance's RayCluster reads it: RemoveAsync of that instance deletes it once the RayCluster
                    // is gone, and a Start relabels it for the new instance before its RayCluster is applied.
                    [RayfleetLabels.Instance] = request.InstanceId,
                },
            },
            ["type"] = "Opaque",
            ["data"] = new JsonObject { [RayClusterManifest.RedisPasswordKey] = Convert.ToBase64String(Encoding.UTF8.GetBytes(password)) },
        };
        var body = new V1Patch(secret.ToJsonString(), V1Patch.PatchType.ApplyPatch);
        var response = await Calls.RunAsync($"apply Secret {ns}/{name}", c =>
            _client.CoreV1.PatchNamespacedSecretWithHttpMessagesAsync(body, name, ns, fieldManager: _options.FieldManager, force: true, cancellationToken: c), ct);
        response.Dispose();
    }

    private async Task DeleteSecretAsync(string ns, string name, CancellationToken ct)
    {
        try
        {
            var response = await Calls.RunAsync($"delete Secret {ns}/{name}", c =>
                _client.CoreV1.DeleteNamespacedSecretWithHttpMessagesAsync(name, ns, cancellationToken: c), ct);
            response.Dispose();
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
        }
    }

    private async Task EnsureNamespaceAsync(string ns, string workspaceId, CancellationToken ct)
    {
        lock (_namespacesLock)
            if (_readyNamespaces.Contains(ns)) return;
        try
        {
            var response = await Calls.RunAsync($"get namespace {ns}", c => _client.CoreV1.ReadNamespaceWithHttpMessagesAsync(ns, cancellationToken: c), ct);
            response.Dispose();
        }
        catch (KubernetesApiException ex) when (ex.IsNotFound)
        {
            if (!_options.CreateNamespaces)
                throw new KubernetesApiException(ex.Status, $"Namespace '{ns}' of workspace {workspaceId} does not exist, and Rayfleet:Kubernetes:CreateNamespaces is off.");
            var body = new V1Namespace
            {
                Metadata = new V1ObjectMeta
                {
                    Name = ns,
                    Labels = new Dictionary<string, string> { [RayfleetLabels.ManagedBy] = RayfleetLabels.ManagedByValue, [RayfleetLabels.Workspace] = workspaceId },
                },
            };
            try
            {
                var created = await Calls.RunAsync($"create namespace {ns}", c => _client.CoreV1.CreateNamespaceWithHttpMessagesAsync(body, fieldManager: _options.FieldManager, cancellationToken: c), ct);
                created.Dispose();
                LogNamespaceCreated(_logger, ns, workspaceId);
            }
            catch (KubernetesApiException conflict) when (conflict.IsConflict)
            {
                // Created meanwhile by someone else: as good.
            }
        }
        lock (_namespacesLock) _readyNamespaces.Add(ns);
        Cache.EnsureWatching(ns);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied RayCluster {Namespace}/{Name} for instance {InstanceId}")]
    private static partial void LogApplied(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleting RayCluster {Namespace}/{Name} of instance {InstanceId} (foreground)")]
    private static partial void LogDeleting(ILogger logger, string @namespace, string name, string? instanceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created namespace {Namespace} for workspace {WorkspaceId}")]
    private static partial void LogNamespaceCreated(ILogger logger, string @namespace, string workspaceId);
}
