using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Auth;

public sealed class AuthorizationPolicyTests
{
    [Fact]
    public void Every_api_endpoint_requires_the_policy_its_action_names_in_the_table()
    {
        using var host = new RayfleetHost();
        var endpoints = host.ApiEndpoints();
        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, e =>
        {
            var expected = RamPolicies.For(e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName).Name;
            var policies = e.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).ToList();
            Assert.True(policies.SequenceEqual([expected]), $"{e.RoutePattern.RawText} requires [{string.Join(", ", policies)}], expected [{expected}]");
        });
    }
}
