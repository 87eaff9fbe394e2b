using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class AdmissionRequests : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_reservations_WorkspaceId_QueueName",
                table: "reservations");

            // Every reservation before this migration was a granted one.
            migrationBuilder.AddColumn<bool>(
                name: "Granted",
                table: "reservations",
                type: "INTEGER",
                nullable: false,
                defaultValue: true);

            migrationBuilder.AddColumn<long>(
                name: "QueuedAt",
                table: "reservations",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.CreateIndex(
                name: "IX_reservations_WorkspaceId_QueueName_Granted_QueuedAt",
                table: "reservations",
                columns: new[] { "WorkspaceId", "QueueName", "Granted", "QueuedAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_reservations_WorkspaceId_QueueName_Granted_QueuedAt",
                table: "reservations");

            migrationBuilder.DropColumn(
                name: "Granted",
                table: "reservations");

            migrationBuilder.DropColumn(
                name: "QueuedAt",
                table: "reservations");

            migrationBuilder.CreateIndex(
                name: "IX_reservations_WorkspaceId_QueueName",
                table: "reservations",
                columns: new[] { "WorkspaceId", "QueueName" });
        }
    }
}
