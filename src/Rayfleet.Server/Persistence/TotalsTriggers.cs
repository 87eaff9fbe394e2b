namespace Rayfleet.Server.Persistence;

/// <summary>
/// The names of the triggers that keep <see cref="WorkspaceTotalsRow"/> (created by the <c>ListTotals</c> migration),
/// declared on their tables so that EF Core writes those tables in a way triggers allow.
/// </summary>
public static class TotalsTriggers
{
    public const string ClusterInsert = "clusters_totals_insert";
    public const string ClusterUpdate = "clusters_totals_update";
    public const string ClusterDelete = "clusters_totals_delete";
    public const string JobInsert = "ray_jobs_totals_insert";
    public const string JobDelete = "ray_jobs_totals_delete";
}
