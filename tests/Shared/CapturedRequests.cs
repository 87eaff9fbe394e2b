namespace Rayfleet.Tests.Shared;

/// <summary>Requests captured from the official C# client (acs3-signature.md §6); linked into several test projects.</summary>
public static class CapturedRequests
{
    /// <summary>The exact 423 body bytes of acs3-signature.md §6.1, sent by the official C# client.</summary>
    public const string CreateRayClusterBody =
        "{\"description\":\"probe cluster\",\"displayReleaseVersion\":\"esr-ray-1.0.0 (Ray 2.9.0, Python 3.10)\",\"headSpec\":{\"cpu\":\"4\",\"enableAutoScaling\":true,\"gpuSpec\":null,\"idleTimeoutSeconds\":600,\"memory\":\"16Gi\",\"queueName\":\"root_queue\"},\"name\":\"my-ray\",\"volumeIds\":[\"vol-1\"],\"workerSpec\":[{\"cpu\":\"2\",\"gpuSpec\":null,\"groupName\":\"g1\",\"maxReplica\":3,\"memory\":\"8Gi\",\"minReplica\":0,\"queueName\":\"root_queue\",\"replica\":1,\"workerType\":\"cpu\"}]}";

    public const string CreateRayClusterBodyHash = "2d6fb5675746ce144567a0474aaabd5fb68140547d65037279a99020d8162954";
}
