using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Rayfleet.Server.Persistence;

/// <summary>
/// The UPDATE of one table for one set of changed columns, built once from EF Core's model like
/// <see cref="InsertPlan"/>: SET the changed columns, WHERE the key and every concurrency token hold the values read.
/// A row with a version (<see cref="RayfleetDbContext.VersionOf"/>) moves it one up, as EF's own save does here, so
/// a writer that read the same row before fails with <see cref="DbUpdateConcurrencyException"/> instead of
/// overwriting. The reconciler's status writes and the API's changes of desired state take this path.
/// </summary>
internal sealed class UpdatePlan
{
    private static readonly ConcurrentDictionary<(IEntityType Type, string Columns), UpdatePlan> Plans = new();

    private readonly IProperty[] _set;
    private readonly IProperty[] _where;
    private readonly IProperty? _version;

    private UpdatePlan(string sql, IProperty[] set, IProperty[] where, IProperty? version)
    {
        Sql = sql;
        _set = set;
        _where = where;
        _version = version;
    }

    public string Sql { get; }

    /// <summary>
    /// The plan for what the entry changed (its version included), or null when the entry must go through SaveChanges:
    /// a table <see cref="InsertPlan"/> does not serve, a changed key or generated value, a concurrency token that may
    /// be null.
    /// </summary>
    public static UpdatePlan? For(EntityEntry entry)
    {
        var type = entry.Metadata;
        if (InsertPlan.For(type) is null) return null;
        var version = RayfleetDbContext.VersionOf(type);
        var set = entry.Properties.Where(p => p.IsModified).Select(p => p.Metadata).Where(p => p != version).ToList();
        if (version is not null) set.Add(version);
        if (set.Count == 0 || set.Any(p => p.IsKey() || p.ValueGenerated != ValueGenerated.Never)
            || type.GetProperties().Any(p => p.IsConcurrencyToken && p.IsNullable))
            return null;
        var columns = string.Join(",", set.Select(p => p.Name));
        return Plans.GetOrAdd((type, columns), _ => Build(type, [.. set], version));
    }

    /// <summary>
    /// Moves the row's version one up and returns the statement's values: the new values of the changed columns, then
    /// the key and the tokens as read. Read on the caller's thread, before the unit is queued.
    /// </summary>
    public object?[] Prepare(EntityEntry entry)
    {
        if (_version is not null)
        {
            var property = entry.Property(_version);
            property.CurrentValue = (long)property.OriginalValue! + 1;
        }
        var values = new object?[_set.Length + _where.Length];
        for (var i = 0; i < _set.Length; i++) values[i] = InsertPlan.Provider(_set[i], entry.CurrentValues[_set[i]]);
        for (var i = 0; i < _where.Length; i++) values[_set.Length + i] = InsertPlan.Provider(_where[i], entry.OriginalValues[_where[i]]);
        return values;
    }

    /// <summary>Updates the row on the writer's context; a row changed or deleted since it was read fails the unit.</summary>
    public async Task RunAsync(RayfleetDbContext writer, object?[] values)
    {
        var command = writer.Prepared(Sql, connection =>
        {
            var created = connection.CreateCommand();
            created.CommandText = Sql;
            InsertPlan.AddParameters(created, [.. _set, .. _where]);
            return created;
        });
        for (var i = 0; i < values.Length; i++) command.Parameters[i].Value = values[i] ?? DBNull.Value;
        var affected = await command.ExecuteNonQueryAsync();
        if (affected != 1)
            throw new DbUpdateConcurrencyException(
                $"The database operation was expected to affect 1 row(s), but actually affected {affected} row(s); data may have been modified or deleted since entities were loaded.");
    }

    private static UpdatePlan Build(IEntityType type, IProperty[] set, IProperty? version)
    {
        var table = type.GetTableName()!;
        var store = StoreObjectIdentifier.Table(table, type.GetSchema());
        IProperty[] where = [.. type.FindPrimaryKey()!.Properties, .. type.GetProperties().Where(p => p.IsConcurrencyToken && !p.IsKey())];
        var assignments = string.Join(", ", set.Select((p, i) => $"{InsertPlan.Quote(p.GetColumnName(store)!)} = {InsertPlan.ParameterName(i)}"));
        var conditions = string.Join(" AND ", where.Select((p, i) => $"{InsertPlan.Quote(p.GetColumnName(store)!)} = {InsertPlan.ParameterName(set.Length + i)}"));
        return new UpdatePlan($"UPDATE {InsertPlan.Target(type)} SET {assignments} WHERE {conditions}", set, where, version);
    }
}
