using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Rayfleet.Server.Persistence;

/// <summary>
/// The INSERT of one table, built once from EF Core's model: its column names, the type mapping of each parameter
/// (what EF's own command would bind) and the key the database generates, if any. The store writer runs new rows
/// through it as a prepared statement, so a batch does not pay EF's per-row command building on its one thread, and
/// the values are read from the entity on the caller's thread before the unit is queued.
/// </summary>
/// <remarks>
/// Only plain tables qualify: no inheritance, owned or complex types, navigations or shadow properties, at most one
/// generated value and that one the key. Rows of the types the workspace cache watches go through SaveChanges, whose
/// interceptor evicts them. Everything else keeps EF's path.
/// </remarks>
internal sealed class InsertPlan
{
    private static readonly ConcurrentDictionary<IEntityType, InsertPlan?> Plans = new();

    private readonly IProperty[] _columns;
    private readonly IProperty? _generatedKey;

    private InsertPlan(string sql, IProperty[] columns, IProperty? generatedKey)
    {
        Sql = sql;
        _columns = columns;
        _generatedKey = generatedKey;
    }

    public string Sql { get; }

    /// <summary>The plan of the entry's table, or null when its rows must go through SaveChanges.</summary>
    public static InsertPlan? For(IEntityType type) => Plans.GetOrAdd(type, Build);

    /// <summary>The row's values as the database stores them (value converters applied), in column order.</summary>
    public object?[] Values(EntityEntry entry)
    {
        var values = new object?[_columns.Length];
        for (var i = 0; i < _columns.Length; i++)
        {
            values[i] = Provider(_columns[i], entry.CurrentValues[_columns[i]]);
        }
        return values;
    }

    /// <summary>The command, with one parameter per column configured by the column's type mapping.</summary>
    public DbCommand CreateCommand(DbConnection connection)
    {
        var command = connection.CreateCommand();
        command.CommandText = Sql;
        AddParameters(command, _columns);
        return command;
    }

    /// <summary>Inserts the row on the writer's context; the generated key, if the table has one.</summary>
    public async Task<object?> RunAsync(RayfleetDbContext writer, object?[] values)
    {
        var command = writer.Prepared(Sql, CreateCommand);
        for (var i = 0; i < values.Length; i++) command.Parameters[i].Value = values[i] ?? DBNull.Value;
        if (_generatedKey is null)
        {
            await command.ExecuteNonQueryAsync();
            return null;
        }
        var key = await command.ExecuteScalarAsync();
        return key is null or DBNull ? null : Convert.ChangeType(key, _generatedKey.ClrType, CultureInfo.InvariantCulture);
    }

    /// <summary>Gives the caller's entry the key that the database generated, as EF's own save would.</summary>
    public void Accept(EntityEntry entry, object? key)
    {
        if (_generatedKey is not null && key is not null) entry.Property(_generatedKey).CurrentValue = key;
    }

    /// <summary>A value as the column stores it: the property's value converter applied, as EF's save applies it.</summary>
    internal static object? Provider(IProperty property, object? value) =>
        property.GetTypeMapping().Converter is { } converter && value is not null ? converter.ConvertToProvider(value) : value;

    /// <summary>One parameter per column, <c>@p0</c> on, configured by the column's type mapping as EF's own command is.</summary>
    internal static void AddParameters(DbCommand command, IReadOnlyList<IProperty> columns)
    {
        for (var i = 0; i < columns.Count; i++)
            command.Parameters.Add(((Microsoft.EntityFrameworkCore.Storage.RelationalTypeMapping)columns[i].GetTypeMapping())
                .CreateParameter(command, ParameterName(i), value: null, columns[i].IsNullable));
    }

    internal static string ParameterName(int i) => "@p" + i.ToString(CultureInfo.InvariantCulture);

    private static InsertPlan? Build(IEntityType type)
    {
        if (type.BaseType is not null || type.GetDirectlyDerivedTypes().Any() || type.IsOwned()
            || type.GetNavigations().Any() || type.GetSkipNavigations().Any() || type.GetComplexProperties().Any()
            || WorkspaceCacheInvalidation.Watches(type.ClrType) || type.GetTableName() is not { } table)
            return null;
        var store = StoreObjectIdentifier.Table(table, type.GetSchema());
        var columns = new List<IProperty>();
        IProperty? generatedKey = null;
        foreach (var property in type.GetProperties())
        {
            if (property.IsShadowProperty() || property.GetColumnName(store) is null) return null;
            if (property.ValueGenerated == ValueGenerated.Never)
            {
                columns.Add(property);
                continue;
            }
            if (generatedKey is not null || !property.IsPrimaryKey() || type.FindPrimaryKey()!.Properties.Count != 1) return null;
            generatedKey = property;
        }
        var names = string.Join(", ", columns.Select(c => Quote(c.GetColumnName(store)!)));
        var parameters = string.Join(", ", columns.Select((_, i) => ParameterName(i)));
        var target = Target(type);
        var returning = generatedKey is null ? "" : $" RETURNING {Quote(generatedKey.GetColumnName(store)!)}";
        return new InsertPlan($"INSERT INTO {target} ({names}) VALUES ({parameters}){returning}", [.. columns], generatedKey);
    }

    // SQLite and PostgreSQL both take double-quoted identifiers; the model's names hold no quotes.
    internal static string Quote(string identifier) => "\"" + identifier + "\"";

    /// <summary>The table of <paramref name="type"/>, quoted, with its schema where it has one.</summary>
    internal static string Target(IEntityType type) =>
        type.GetSchema() is { } schema ? $"{Quote(schema)}.{Quote(type.GetTableName()!)}" : Quote(type.GetTableName()!);
}
