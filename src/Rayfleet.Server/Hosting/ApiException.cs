using Rayfleet.Core.Contracts;

namespace Rayfleet.Server.Hosting;

/// <summary>A failure with a stable code that the API answers in the Alibaba Cloud error body.</summary>
public sealed class ApiException(int status, string code, string message, IReadOnlyList<ErrorDetail>? details = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public IReadOnlyList<ErrorDetail>? Details { get; } = details;

    public static ApiException NotFound(string code, string what) => new(404, code, what);

    public static ApiException Denied(string message) => new(409, ErrorCodes.OperationDenied, message);

    public static ApiException Invalid(string message) => new(400, ErrorCodes.InvalidParameter, message);

    /// <summary>Every problem at once; the code and status are the first problem's.</summary>
    public static ApiException FromProblems(IReadOnlyList<Problem> problems)
    {
        var first = problems[0];
        var message = problems.Count == 1
            ? first.Message
            : $"{problems.Count} problems: " + string.Join(" ", problems.Select(p => p.Message));
        return new ApiException(first.Status, first.Code, message,
            [.. problems.Select(p => new ErrorDetail(p.Code, p.Field, p.Message))]);
    }
}
