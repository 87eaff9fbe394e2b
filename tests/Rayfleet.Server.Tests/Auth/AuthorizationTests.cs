using System.Net;
using Microsoft.AspNetCore.Routing;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Auth;

public sealed class AuthorizationTests
{
    private static readonly object Cluster = new { name = "c", headSpec = new { cpu = "1", memory = "4Gi" } };

    private static async Task<(RayfleetHost Host, string WsA, string WsB)> TwoWorkspacesAsync()
    {
        var host = new RayfleetHost();
        var admin = host.Api();
        var a = (await admin.PostAsync("/api/v1/workspaces", new { workspaceName = "A" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        var b = (await admin.PostAsync("/api/v1/workspaces", new { workspaceName = "B" })).EnsureOk().Json["workspaceId"]!.GetValue<string>();
        return (host, a, b);
    }

    [Fact]
    public async Task A_viewer_can_read_but_not_create()
    {
        var (host, a, _) = await TwoWorkspacesAsync();
        using var _ = host;
        var key = await host.AddPrincipalAsync("viewer");
        await host.AddMemberAsync(a, "viewer", Roles.Viewer);
        var viewer = host.Api(key);
        (await viewer.GetAsync($"/api/v1/workspaces/{a}/rayCluster")).EnsureOk();
        var create = await viewer.PostAsync($"/api/v1/workspaces/{a}/rayCluster", Cluster);
        Assert.Equal(HttpStatusCode.Forbidden, create.Status);
        Assert.Equal("Forbidden.RAM", create.Code);
        Assert.Contains("emr-serverless-spark:CreateRayCluster", create.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_developer_runs_clusters_but_cannot_edit_queues()
    {
        var (host, a, _) = await TwoWorkspacesAsync();
        using var _ = host;
        var key = await host.AddPrincipalAsync("dev");
        await host.AddMemberAsync(a, "dev", Roles.Developer);
        var dev = host.Api(key);
        (await dev.PostAsync($"/api/v1/workspaces/{a}/rayCluster", Cluster)).EnsureOk();
        var edit = await dev.PostAsync("/api/v1/workspaces/queues/action/edit", new { workspaceId = a, workspaceQueueName = "root_queue", resourceSpec = new { cu = 1 } });
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden.RAM"), (edit.Status, edit.Code));
        var create = await dev.PostAsync("/api/v1/workspaces/queues", new { workspaceId = a, workspaceQueueName = "q2", resourceSpec = new { cu = 1 } });
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden.RAM"), (create.Status, create.Code));

        var ownerKey = await host.AddPrincipalAsync("owner");
        await host.AddMemberAsync(a, "owner", Roles.Owner);
        (await host.Api(ownerKey).PostAsync("/api/v1/workspaces/queues/action/edit", new { workspaceId = a, workspaceQueueName = "root_queue", resourceSpec = new { cu = 100 } })).EnsureOk();
    }

    [Fact]
    public async Task A_member_of_one_workspace_gets_403_on_every_route_of_another_and_of_one_that_does_not_exist()
    {
        var (host, a, b) = await TwoWorkspacesAsync();
        using var _ = host;
        var key = await host.AddPrincipalAsync("owner-a");
        await host.AddMemberAsync(a, "owner-a", Roles.Owner);
        var member = host.Api(key);

        // Every route with a workspace in its path or body, straight from the endpoint table, so a new one cannot be forgotten.
        var endpoints = host.ApiEndpoints();
        var workspaceRoutes = endpoints.Where(e => e.RoutePattern.Parameters.Any(p => p.Name == "workspaceId")).ToList();
        var bodyRoutes = endpoints.Where(e => RamPolicies.For(e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName).Scope == RamScope.BodyWorkspace).ToList();
        Assert.True(workspaceRoutes.Count >= 15, $"only {workspaceRoutes.Count} workspace routes found");
        Assert.Equal(2, bodyRoutes.Count);

        foreach (var target in new[] { b, "w-0000000000000000" })
        {
            foreach (var endpoint in workspaceRoutes.Concat(bodyRoutes))
            {
                var method = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Single();
                var path = endpoint.RoutePattern.RawText!;
                foreach (var parameter in endpoint.RoutePattern.Parameters)
                    path = path.Replace("{" + parameter.Name + "}", parameter.Name == "workspaceId" ? target : "x-" + parameter.Name, StringComparison.Ordinal);
                var body = method is "POST" or "PUT" ? $"{{\"workspaceId\":\"{target}\",\"workspaceQueueName\":\"root_queue\",\"name\":\"n\"}}" : null;
                var response = await member.SendAsync(new HttpMethod(method), path, body);
                Assert.True(response.Status == HttpStatusCode.Forbidden && response.Code == "Forbidden.RAM",
                    $"{method} {path} answered {(int)response.Status} {response.Body}");
            }
        }
        // And the same routes work in the member's own workspace (a sample).
        (await member.GetAsync($"/api/v1/workspaces/{a}/queues")).EnsureOk();
    }

    [Fact]
    public async Task Every_api_route_has_a_policy_or_is_admin_only_by_default()
    {
        using var host = new RayfleetHost();
        var endpoints = host.ApiEndpoints();
        var unlisted = endpoints
            .Select(e => (Name: e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName, Path: e.RoutePattern.RawText!))
            .Where(e => e.Name is null || !RamPolicies.ByAction.ContainsKey(e.Name))
            .ToList();
        Assert.All(unlisted, e => Assert.StartsWith("/api/v1/admin/", e.Path, StringComparison.Ordinal));

        var key = await host.AddPrincipalAsync("nobody");
        var response = await host.Api(key).GetAsync("/api/v1/admin/principals");
        Assert.Equal((HttpStatusCode.Forbidden, "Forbidden.RAM"), (response.Status, response.Code));
    }

    [Fact]
    public async Task ListWorkspaces_shows_a_member_only_their_workspaces()
    {
        var (host, a, b) = await TwoWorkspacesAsync();
        using var _ = host;
        var key = await host.AddPrincipalAsync("viewer");
        await host.AddMemberAsync(a, "viewer", Roles.Viewer);
        var listed = (await host.Api(key).GetAsync("/api/v1/workspaces")).EnsureOk().Json["workspaces"]!.AsArray()
            .Select(w => w!["workspaceId"]!.GetValue<string>()).ToList();
        Assert.Equal([a], listed);
        Assert.DoesNotContain(b, listed);
    }
}
