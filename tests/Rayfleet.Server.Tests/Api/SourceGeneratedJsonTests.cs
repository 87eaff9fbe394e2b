using System.Text.Json;
using Rayfleet.Server.Api;
using Microsoft.AspNetCore.Http.Metadata;
using Rayfleet.Core.Contracts;
using Rayfleet.Server.Tests.Support;

namespace Rayfleet.Server.Tests.Api;

/// <summary>The wire contracts are serialized from source-generated metadata, never built by reflection at run time.</summary>
public sealed class SourceGeneratedJsonTests
{
    [Fact]
    public void Every_request_and_response_type_of_the_api_is_source_generated()
    {
        using var host = new RayfleetHost();
        var endpoints = host.ApiEndpoints();
        var types = endpoints.SelectMany(e =>
                e.Metadata.GetOrderedMetadata<IProducesResponseTypeMetadata>().Select(p => p.Type)
                    .Concat(e.Metadata.GetOrderedMetadata<IAcceptsMetadata>().Select(a => a.RequestType)))
            .OfType<Type>().Where(t => t != typeof(void)).Distinct().ToList();
        Assert.True(types.Count >= 20, $"only {types.Count} contract types found on the endpoints");
        Assert.All(types, t => Assert.True(WireJson.Default.GetTypeInfo(t) is not null, $"{t.Name} is not in WireJson"));
    }

    [Fact]
    public void Every_contract_type_is_source_generated()
    {
        var contracts = typeof(ErrorBody).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(ErrorBody).Namespace && t.IsPublic && !t.IsAbstract && !t.IsEnum
                        && !t.IsSubclassOf(typeof(System.Text.Json.Serialization.JsonSerializerContext))
                        // A validation finding, turned into ErrorBody.Errors before it is written.
                        && t != typeof(Problem))
            .ToList();
        Assert.NotEmpty(contracts);
        Assert.All(contracts, t => Assert.True(WireJson.Default.GetTypeInfo(t) is not null, $"{t.Name} is not in WireJson"));
    }

    [Fact]
    public void A_body_of_a_type_outside_the_contracts_is_refused_rather_than_reflected()
    {
        Assert.Throws<NotSupportedException>(() => Rayfleet.Server.Hosting.JsonBody.Parse<Unlisted>("{}"u8.ToArray()));
    }

    [Fact]
    public void Idempotency_fingerprints_are_the_bytes_that_reflection_wrote_so_tokens_stored_before_still_match()
    {
        var value = "ray-0\"é<&>\u2028";
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(new { clusterId = value }), new Parameter("clusterId", value).ToUtf8Json());
        var request = new RayClusterRequest
        {
            Name = "n\u00e9",
            HeadSpec = new HeadSpecDto { Cpu = "2", Memory = "8Gi", QueueName = "dev", EnableAutoScaling = true, GftConfig = new GftConfigDto { RedisUrl = "r" } },
            WorkerSpec = [new WorkerSpecDto { GroupName = "g", Replica = 2 }, null],
            VolumeIds = ["v-1", null],
        };
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(request, request.GetType()), JsonSerializer.SerializeToUtf8Bytes(request, request.GetType(), WireJson.Default));
        var stop = new StopRayClusterRequest();
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(stop, stop.GetType()), JsonSerializer.SerializeToUtf8Bytes(stop, stop.GetType(), WireJson.Default));
    }

    public sealed class Unlisted
    {
        public string? Name { get; init; }
    }
}
