using System.Net;
using Microsoft.Extensions.Options;
using Rayfleet.Server.Auth;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Auth;

public sealed class InsecureModeTests
{
    [Fact]
    public async Task Insecure_development_mode_skips_signatures_and_says_so_in_every_response()
    {
        using var host = new RayfleetHost(settings: new Dictionary<string, string?>
        {
            ["Rayfleet:Security:InsecureDevelopmentMode"] = "true",
            ["urls"] = "http://127.0.0.1:5999",
        });
        var response = await host.UnsignedClient().GetAsync("/api/v1/workspaces");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("true", response.Headers.GetValues(SignatureRules.InsecureHeader).Single(), StringComparison.Ordinal);
        var error = await host.UnsignedClient().GetAsync("/api/v1/workspaces/w-0000000000000000/rayCluster");
        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.True(error.Headers.Contains(SignatureRules.InsecureHeader));
    }

    [Fact]
    public void Insecure_development_mode_is_refused_on_a_non_loopback_address()
    {
        using var host = new RayfleetHost(settings: new Dictionary<string, string?>
        {
            ["Rayfleet:Security:InsecureDevelopmentMode"] = "true",
            ["urls"] = "http://0.0.0.0:5999",
        });
        var ex = Assert.ThrowsAny<Exception>(() => host.StartServerIfNeeded());
        var validation = ex as OptionsValidationException ?? ex.InnerException as OptionsValidationException;
        Assert.NotNull(validation);
        Assert.Contains("loopback", validation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_is_off_by_default()
    {
        using var host = new RayfleetHost();
        var response = await host.UnsignedClient().GetAsync("/api/v1/workspaces");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.Contains(SignatureRules.InsecureHeader));
    }
}
