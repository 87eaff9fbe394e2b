using System.Text.Json.Serialization;

namespace Rayfleet.Core.Contracts;

// Rayfleet extensions: principals, access keys, workspace members and the audit log.

public sealed record CreatePrincipalRequest
{
    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("admin")] public bool? Admin { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record PrincipalDto(
    [property: JsonPropertyName("principalId")] string PrincipalId,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("admin")] bool Admin,
    [property: JsonPropertyName("createTime")] long CreateTime);

public sealed record CreatePrincipalResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("principalId")] string PrincipalId);

public sealed record ListPrincipalsResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("principals")] IReadOnlyList<PrincipalDto> Principals,
    [property: JsonPropertyName("totalCount")] int TotalCount);

/// <summary>The only response that ever carries a secret: the one that creates the key.</summary>
public sealed record CreateAccessKeyResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("accessKeyId")] string AccessKeyId,
    [property: JsonPropertyName("accessKeySecret")] string AccessKeySecret,
    [property: JsonPropertyName("principalId")] string PrincipalId);

public sealed record AccessKeyDto(
    [property: JsonPropertyName("accessKeyId")] string AccessKeyId,
    [property: JsonPropertyName("principalId")] string PrincipalId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("createTime")] long CreateTime);

public sealed record ListAccessKeysResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("accessKeys")] IReadOnlyList<AccessKeyDto> AccessKeys,
    [property: JsonPropertyName("totalCount")] int TotalCount);

public sealed record AddMemberRequest
{
    [JsonPropertyName("principalId")] public string? PrincipalId { get; init; }
    [JsonPropertyName("role")] public string? Role { get; init; }
    [JsonPropertyName("clientToken")] public string? ClientToken { get; init; }
}

public sealed record MemberDto(
    [property: JsonPropertyName("principalId")] string PrincipalId,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("createTime")] long CreateTime);

public sealed record ListMembersResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("members")] IReadOnlyList<MemberDto> Members,
    [property: JsonPropertyName("totalCount")] int TotalCount);

public sealed record AuditEventDto(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("time")] long Time,
    [property: JsonPropertyName("principalId")] string? PrincipalId,
    [property: JsonPropertyName("accessKeyId")] string? AccessKeyId,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("workspaceId")] string? WorkspaceId,
    [property: JsonPropertyName("resource")] string? Resource,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("sourceIp")] string? SourceIp);

public sealed record ListAuditEventsResponse(
    [property: JsonPropertyName("requestId")] string RequestId,
    [property: JsonPropertyName("events")] IReadOnlyList<AuditEventDto> Events,
    [property: JsonPropertyName("nextToken")] string? NextToken);
