using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Rayfleet.Server.Persistence;

/// <summary>
/// The store. <see cref="SaveChangesAsync(CancellationToken)"/> of a context made by the service's container goes
/// through the <see cref="StoreWriter"/>, so every change of the service is group-committed by one writer; a context
/// with a transaction of its own, or made without a writer (migrations, tests of the schema), saves directly.
/// The service leases its contexts from EF Core's pool (<c>AddDbContextPool</c>): a request does not build one.
/// </summary>
public sealed class RayfleetDbContext(DbContextOptions<RayfleetDbContext> options) : DbContext(options)
{
    private IServiceProvider? _services;
    private bool _servicesLooked;

    /// <summary>Set on the writer's own context (never a pooled one): its saves are the batch's, never queued again.</summary>
    internal bool IsWriter { get; init; }

    /// <summary>The container's services, when the options came from the container (a pooled context keeps them).</summary>
    private IServiceProvider? Services
    {
        get
        {
            if (_servicesLooked) return _services;
            _services = this.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.ApplicationServiceProvider;
            _servicesLooked = true;
            return _services;
        }
    }

    private StoreWriter? Writer => Services?.GetService<StoreWriter>();

    private bool? _preparedWrites;

    /// <summary>
    /// Whether the writer may save this context's rows through its prepared statements, which skip EF's save and so
    /// its SaveChanges interceptors: not when interceptors other than the store's own are registered (the container's,
    /// which tests use to watch or fail saves), so that those see every save.
    /// </summary>
    internal bool PreparedWrites => _preparedWrites ??=
        !(this.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.Interceptors?
            .Any(i => i is Microsoft.EntityFrameworkCore.Diagnostics.ISaveChangesInterceptor and not WorkspaceCacheInvalidation) ?? false);

    /// <summary>The service's cache of workspace metadata; null on a context made outside the container.</summary>
    internal WorkspaceCache? WorkspaceCache => Services?.GetService<WorkspaceCache>();

    public DbSet<WorkspaceRow> Workspaces => Set<WorkspaceRow>();
    public DbSet<QueueRow> Queues => Set<QueueRow>();
    public DbSet<NetworkServiceRow> NetworkServices => Set<NetworkServiceRow>();
    public DbSet<VolumeRow> Volumes => Set<VolumeRow>();
    public DbSet<ClusterRow> Clusters => Set<ClusterRow>();
    public DbSet<JobRow> Jobs => Set<JobRow>();
    public DbSet<ReservationRow> Reservations => Set<ReservationRow>();
    public DbSet<ClusterDemandRow> Demands => Set<ClusterDemandRow>();
    public DbSet<IdempotencyRow> Idempotency => Set<IdempotencyRow>();
    public DbSet<PrincipalRow> Principals => Set<PrincipalRow>();
    public DbSet<AccessKeyRow> AccessKeys => Set<AccessKeyRow>();
    public DbSet<NonceRow> Nonces => Set<NonceRow>();
    public DbSet<MembershipRow> Memberships => Set<MembershipRow>();
    public DbSet<AuditRow> Audit => Set<AuditRow>();
    public DbSet<WorkspaceTotalsRow> WorkspaceTotals => Set<WorkspaceTotalsRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<WorkspaceRow>(e =>
        {
            e.ToTable("workspaces");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(64);
            e.Property(x => x.Name).HasMaxLength(256);
            e.Property(x => x.Provider).HasMaxLength(32);
            e.HasIndex(x => new { x.CreateTime, x.Id });
        });
        modelBuilder.Entity<QueueRow>(e =>
        {
            e.ToTable("queues");
            e.HasKey(x => new { x.WorkspaceId, x.Name });
            e.Property(x => x.Name).HasMaxLength(128);
            e.Property(x => x.Cu).HasPrecision(18, 3);
            e.Property(x => x.MaxCu).HasPrecision(18, 3);
        });
        modelBuilder.Entity<NetworkServiceRow>(e =>
        {
            e.ToTable("network_services");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.WorkspaceId, x.Name }).IsUnique();
        });
        modelBuilder.Entity<VolumeRow>(e =>
        {
            e.ToTable("volumes");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.WorkspaceId, x.Name }).IsUnique();
        });
        modelBuilder.Entity<ClusterRow>(e =>
        {
            // The triggers keep workspace_totals (WorkspaceTotalsRow); EF then does not use RETURNING on this table.
            e.ToTable("clusters", t =>
            {
                t.HasTrigger(TotalsTriggers.ClusterInsert);
                t.HasTrigger(TotalsTriggers.ClusterUpdate);
                t.HasTrigger(TotalsTriggers.ClusterDelete);
            });
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(64);
            e.Property(x => x.State).HasMaxLength(16);
            e.Property(x => x.Version).IsConcurrencyToken();
            // Serves ListRayCluster's order (newest first, id as the tie-break) from either end, and its tombstone
            // filter from the index itself: a page is read without sorting the workspace or visiting skipped rows.
            e.HasIndex(x => new { x.WorkspaceId, x.CreateTime, x.Id, x.Deleted });
            e.HasIndex(x => new { x.WorkspaceId, x.DesiredRunning, x.QueuedAt });
            // Only the clusters that wait for admission, in admission order: what a decision sums as ahead of it
            // (QueueAdmissionService names it in INDEXED BY, and repeats its condition).
            e.HasIndex(x => new { x.WorkspaceId, x.QueuedAt, x.Id }, "IX_clusters_Waiting")
                .HasFilter("\"AdmittedReplicasJson\" IS NULL AND \"DesiredRunning\" AND NOT \"Deleted\"");
            e.Property(x => x.UsageCuMs).HasPrecision(28, 3);
            e.Property(x => x.UsageGpuMs).HasPrecision(28, 3);
            e.Property(x => x.UsageCuRate).HasPrecision(28, 9);
            e.Property(x => x.UsageGpuRate).HasPrecision(28, 9);
        });
        modelBuilder.Entity<JobRow>(e =>
        {
            e.ToTable("ray_jobs", t =>
            {
                t.HasTrigger(TotalsTriggers.JobInsert);
                t.HasTrigger(TotalsTriggers.JobDelete);
            });
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(64);
            e.Property(x => x.Status).HasMaxLength(16);
            e.Property(x => x.ClusterState).HasMaxLength(16);
            e.Property(x => x.Version).IsConcurrencyToken();
            e.Property(x => x.UsageCuMs).HasPrecision(28, 3);
            e.Property(x => x.UsageGpuMs).HasPrecision(28, 3);
            e.Property(x => x.UsageCuMsAtStart).HasPrecision(28, 3);
            e.Property(x => x.UsageGpuMsAtStart).HasPrecision(28, 3);
            // ListRayJob's order, newest first with the id as the tie-break, read from either end.
            e.HasIndex(x => new { x.WorkspaceId, x.SubmitTime, x.Id });
            e.HasIndex(x => x.ClusterId);
        });
        modelBuilder.Entity<WorkspaceTotalsRow>(e =>
        {
            e.ToTable("workspace_totals");
            e.HasKey(x => x.WorkspaceId);
            e.Property(x => x.WorkspaceId).HasMaxLength(64);
        });
        modelBuilder.Entity<ReservationRow>(e =>
        {
            e.ToTable("reservations");
            e.HasKey(x => new { x.ClusterId, x.QueueName });
            e.HasIndex(x => new { x.WorkspaceId, x.QueueName });
        });
        modelBuilder.Entity<ClusterDemandRow>(e =>
        {
            e.ToTable("cluster_demands");
            e.HasKey(x => new { x.ClusterId, x.QueueName });
            e.HasIndex(x => new { x.WorkspaceId, x.QueueName });
        });
        modelBuilder.Entity<PrincipalRow>(e =>
        {
            e.ToTable("principals");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Name).IsUnique();
        });
        modelBuilder.Entity<AccessKeyRow>(e =>
        {
            e.ToTable("access_keys");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(128);
            e.HasIndex(x => x.PrincipalId);
        });
        modelBuilder.Entity<NonceRow>(e =>
        {
            e.ToTable("signature_nonces");
            // No index beyond the sequence: a new nonce goes to the end of the log, so a commit of many requests
            // writes the same few pages rather than one page of a random index per request.
            e.HasKey(x => x.Seq);
            e.Property(x => x.Seq).ValueGeneratedOnAdd();
        });
        modelBuilder.Entity<MembershipRow>(e =>
        {
            e.ToTable("memberships");
            e.HasKey(x => new { x.WorkspaceId, x.PrincipalId });
            e.HasIndex(x => x.PrincipalId);
            e.Property(x => x.Role).HasMaxLength(16);
        });
        modelBuilder.Entity<AuditRow>(e =>
        {
            e.ToTable("audit_log");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.HasIndex(x => x.Time);
            e.HasIndex(x => new { x.WorkspaceId, x.Time });
            e.HasIndex(x => new { x.PrincipalId, x.Time });
        });
        modelBuilder.Entity<IdempotencyRow>(e =>
        {
            e.ToTable("idempotency");
            e.HasKey(x => x.Key);
            e.HasIndex(x => x.CreateTime);
        });
    }

    public override async Task<int> SaveChangesAsync(CancellationToken cancellationToken = default)
    {
        if (IsWriter || Database.CurrentTransaction is not null || Writer is not { } writer) return await SaveDirectAsync(cancellationToken);
        return await writer.SaveCountedAsync(this) ?? 0;
    }

    /// <summary>The writer's prepared statements by their SQL; they live as long as its context and connection.</summary>
    private Dictionary<string, DbCommand>? _prepared;

    /// <summary>
    /// The writer's statement for <paramref name="sql"/>, made by <paramref name="create"/> on first use and kept
    /// prepared on the writer's connection, enlisted in its current transaction: the statements that every request
    /// writes skip EF's command building and the database's parse.
    /// </summary>
    internal DbCommand Prepared(string sql, Func<DbConnection, DbCommand> create)
    {
        if (!IsWriter) throw new InvalidOperationException("Prepared statements belong to the store writer's context.");
        _prepared ??= new Dictionary<string, DbCommand>(StringComparer.Ordinal);
        if (!_prepared.TryGetValue(sql, out var command))
        {
            command = create(Database.GetDbConnection());
            _prepared[sql] = command;
        }
        command.Transaction = Database.CurrentTransaction?.GetDbTransaction();
        return command;
    }

    /// <summary>Runs <paramref name="sql"/> (parameters <c>@p0</c>, <c>@p1</c>, …) as a prepared statement of the writer.</summary>
    internal Task<int> ExecutePreparedAsync(string sql, object?[] values)
    {
        var command = Prepared(sql, connection =>
        {
            var created = connection.CreateCommand();
            created.CommandText = sql;
            for (var i = 0; i < values.Length; i++)
            {
                var parameter = created.CreateParameter();
                parameter.ParameterName = "@p" + i.ToString(CultureInfo.InvariantCulture);
                created.Parameters.Add(parameter);
            }
            return created;
        });
        for (var i = 0; i < values.Length; i++) command.Parameters[i].Value = values[i] ?? DBNull.Value;
        return command.ExecuteNonQueryAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        if (_prepared is not null)
        {
            foreach (var command in _prepared.Values) await command.DisposeAsync();
            _prepared = null;
        }
        await base.DisposeAsync();
    }

    /// <summary>A save on this context's own connection (the writer's, or one outside the service).</summary>
    internal Task<int> SaveDirectAsync(CancellationToken cancellationToken = default)
    {
        // The version check compares the value read; the new value is one more, so a second writer that read the same
        // row fails with DbUpdateConcurrencyException instead of overwriting.
        foreach (var entry in ChangeTracker.Entries())
            if (entry.State == EntityState.Modified && VersionOf(entry.Metadata) is { } version)
                entry.Property(version).CurrentValue = (long)entry.Property(version).OriginalValue! + 1;
        return base.SaveChangesAsync(cancellationToken);
    }

    /// <summary>The row's version, where its table has one: a concurrency token that every update moves one up.</summary>
    internal static IProperty? VersionOf(IEntityType type) =>
        type.FindProperty("Version") is { IsConcurrencyToken: true } version && version.ClrType == typeof(long) ? version : null;
}
