using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class WaitingClustersIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
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
        }
    }
}
