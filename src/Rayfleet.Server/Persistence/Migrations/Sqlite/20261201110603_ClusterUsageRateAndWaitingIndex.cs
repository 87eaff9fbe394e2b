using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ClusterUsageRateAndWaitingIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<decimal>(
                name: "UsageCuRate",
                table: "clusters",
                type: "TEXT",
                precision: 28,
                scale: 9,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "UsageGpuRate",
                table: "clusters",
                type: "TEXT",
                precision: 28,
                scale: 9,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_clusters_Waiting",
                table: "clusters",
                columns: new[] { "WorkspaceId", "QueuedAt", "Id" },
                filter: "\"AdmittedReplicasJson\" IS NULL AND \"DesiredRunning\" AND NOT \"Deleted\"");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_clusters_Waiting",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageCuRate",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageGpuRate",
                table: "clusters");
        }
    }
}
