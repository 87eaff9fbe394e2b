using Rayfleet.Server.Persistence;

namespace Rayfleet.Server.Auth;

/// <summary>
/// Remembers used signature nonces in the store. Each nonce is a unit of the store's group commit
/// (<see cref="StoreWriter"/>): requests that arrive together share one commit with each other and with the changes
/// they carry, and a nonce is still durable before its request is answered.
/// </summary>
public sealed class NonceLedger(StoreWriter writer)
{
    private const string Insert =
        "INSERT INTO \"signature_nonces\" (\"AccessKeyId\", \"Nonce\", \"ExpiresAt\") VALUES (@p0, @p1, @p2) ON CONFLICT DO NOTHING";

    /// <summary>True when the nonce was not used before by this access key (and is now recorded); false for a replay.</summary>
    public Task<bool> TryRecordAsync(string accessKeyId, string nonce, long expiresAt) =>
        // Portable upsert (SQLite and PostgreSQL): no row inserted means the pair exists, i.e. a replay.
        writer.WriteAsync(async db => await db.ExecutePreparedAsync(Insert, [accessKeyId, nonce, expiresAt]) == 1, atomic: true);
}
