using System.Diagnostics;
using System.Text;
using Rayfleet.Core.Clusters;
using Rayfleet.Server.Providers.Kubernetes;
using Rayfleet.Server.Providers.Local;

namespace Rayfleet.Server.Tests.Kubernetes;

/// <summary>
/// Issue 9 point 7: one rayStartParams string gives <c>ray start</c> the same options on both providers. The Kubernetes
/// side is what KubeRay v1.7.0 does with the map: convertParamMap (pod.go ~1518-1543) writes <c>--name=value</c>, a bare
/// <c>--name</c> for "true" and nothing for "false" except for log-color, include-dashboard and include-log-monitor, and
/// the container runs it with <c>/bin/bash -c</c> (util.go ~1005 GetContainerCommand). Here a real bash does the last step.
/// </summary>
public sealed class RayStartParamsParityTests
{
    /// <summary>KubeRay v1.7.0 pod.go ~1518-1543, convertParamMap, line for line.</summary>
    private static string ConvertParamMap(IReadOnlyDictionary<string, string> rayStartParams)
    {
        string[] special = ["log-color", "include-dashboard", "include-log-monitor"];
        var flags = new StringBuilder();
        foreach (var option in rayStartParams.Keys.Order(StringComparer.Ordinal))
        {
            var argument = rayStartParams[option];
            var lower = argument.ToLowerInvariant();
            if (lower is "true" or "false" && !special.Contains(option))
            {
                if (lower is "true") flags.Append($" --{option} ");
            }
            else
            {
                flags.Append($" --{option}={argument} ");
            }
        }
        return flags.ToString();
    }

    /// <summary>The argv bash gives a command line, as <c>/bin/bash -c</c> in the Ray container would.</summary>
    private static string[] BashArgv(string commandLine)
    {
        var start = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("printf '%s\\0' " + commandLine);
        using var bash = Process.Start(start)!;
        var output = bash.StandardOutput.ReadToEnd();
        bash.WaitForExit();
        Assert.Equal(0, bash.ExitCode);
        return output.Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    private static NodeLaunch Node(string parameters) => new()
    {
        IsHead = false, NodeIp = "127.0.0.1", GcsPort = 23000, AgentPort = 23010, CpuMillis = 4000, MemoryBytes = 8L << 30,
        Gpus = 0, RayStartParams = parameters,
    };

    [Theory]
    [InlineData("--resources='{\"x\": 1, \"y z\": 0.5}'")]
    [InlineData("--node-name \"it's a node\" --temp-dir='/tmp/a b'")]
    [InlineData("--plasma-directory='$HOME/`x`;|&' --storage ''")]
    [InlineData("--include-dashboard=false --log-color false --include-log-monitor=True")]
    [InlineData("--disable-usage-stats --ray-debugger-external=false --no-monitor=true")]
    [InlineData("--tracing-startup-hook=true --node-name=FALSE --my-unknown=false --my-switch")]
    [InlineData("--object-store-memory 1000000000 --num-cpus=0 --metrics-export-port=8080")]
    [InlineData("--system-config='{\"a\":\"b c\"}' --worker-port-list=10002,10003 --labels-file=/etc/x=y")]
    [InlineData("--redis-password= --node-name=a")]
    public void Ray_start_gets_the_same_options_through_KubeRays_bash_as_from_the_local_provider(string parameters)
    {
        if (!File.Exists("/bin/bash")) Assert.Fail("this test needs /bin/bash, as KubeRay's Ray containers do");
        var names = RayStartOptions.Parse(parameters).Options.Select(o => "--" + o.Name).ToHashSet(StringComparer.Ordinal);
        static string Flag(string arg) => arg.Split('=', 2)[0];

        var local = RayStartCommand.For(Node(parameters)).Arguments.Where(a => names.Contains(Flag(a)));
        var kubernetes = BashArgv(ConvertParamMap(RayClusterManifest.RayStartParams(parameters, "4"))).Where(a => names.Contains(Flag(a)));

        Assert.Equal(local.Order(StringComparer.Ordinal), kubernetes.Order(StringComparer.Ordinal));
        Assert.NotEmpty(local);
    }

    [Fact]
    public void A_switch_given_false_reaches_neither_provider()
    {
        const string parameters = "--disable-usage-stats=false";
        Assert.DoesNotContain(RayStartCommand.For(Node(parameters)).Arguments, a => a.Contains("disable-usage-stats", StringComparison.Ordinal));
        Assert.DoesNotContain(BashArgv(ConvertParamMap(RayClusterManifest.RayStartParams(parameters, "4"))),
            a => a.Contains("disable-usage-stats", StringComparison.Ordinal));
    }

    [Fact]
    public void Resources_keep_the_single_pair_of_quotes_KubeRays_resource_parsing_and_autoscaler_strip()
    {
        // pod.go ~1494-1503 getResourcesMap trims ' " ` and spaces from both ends before json.Unmarshal; Ray's KubeRay
        // autoscaler drops the first and last character. Both then read plain JSON.
        var map = RayClusterManifest.RayStartParams("--resources='{\"x\": 1}'", "4");
        Assert.Equal("'{\"x\": 1}'", map["resources"]);
    }
}
