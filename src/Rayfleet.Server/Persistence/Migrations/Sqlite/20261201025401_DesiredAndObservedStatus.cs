using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class DesiredAndObservedStatus : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<string>(
                name: "State",
                table: "clusters",
                type: "TEXT",
                maxLength: 16,
                nullable: true,
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldMaxLength: 16);

            migrationBuilder.AddColumn<string>(
                name: "ListSpecJson",
                table: "clusters",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<long>(
                name: "ObservedGeneration",
                table: "clusters",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<string>(
                name: "ObservedInstanceId",
                table: "clusters",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "cluster_demands",
                columns: table => new
                {
                    ClusterId = table.Column<string>(type: "TEXT", nullable: false),
                    QueueName = table.Column<string>(type: "TEXT", nullable: false),
                    WorkspaceId = table.Column<string>(type: "TEXT", nullable: false),
                    MilliCpu = table.Column<long>(type: "INTEGER", nullable: false),
                    MemoryBytes = table.Column<long>(type: "INTEGER", nullable: false),
                    MilliCu = table.Column<long>(type: "INTEGER", nullable: false),
                    Gpu = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_cluster_demands", x => new { x.ClusterId, x.QueueName });
                });

            migrationBuilder.CreateIndex(
                name: "IX_reservations_WorkspaceId_QueueName",
                table: "reservations",
                columns: new[] { "WorkspaceId", "QueueName" });

            migrationBuilder.CreateIndex(
                name: "IX_cluster_demands_WorkspaceId_QueueName",
                table: "cluster_demands",
                columns: new[] { "WorkspaceId", "QueueName" });
            // Requests of waiting clusters become the demand index of their spec; reservations keep only grants. Every
            // existing status was written for the row's current generation and instance. The listing spec of an existing
            // row is its whole spec (a superset, read the same), until its next update writes the short one.
            migrationBuilder.Sql(
                "INSERT INTO cluster_demands (ClusterId, QueueName, WorkspaceId, MilliCpu, MemoryBytes, MilliCu, Gpu) " +
                "SELECT ClusterId, QueueName, WorkspaceId, MilliCpu, MemoryBytes, MilliCu, Gpu FROM reservations WHERE Granted = 0;");
            migrationBuilder.Sql("DELETE FROM reservations WHERE Granted = 0;");
            migrationBuilder.Sql("UPDATE clusters SET ObservedGeneration = Generation, ObservedInstanceId = CASE WHEN RunSpecJson IS NULL THEN NULL ELSE InstanceId END, ListSpecJson = SpecJson;");

            migrationBuilder.DropIndex(
                name: "IX_reservations_WorkspaceId_QueueName_Granted_QueuedAt",
                table: "reservations");

            migrationBuilder.DropColumn(
                name: "Granted",
                table: "reservations");

            migrationBuilder.DropColumn(
                name: "QueuedAt",
                table: "reservations");

        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "cluster_demands");

            migrationBuilder.DropIndex(
                name: "IX_reservations_WorkspaceId_QueueName",
                table: "reservations");

            migrationBuilder.DropColumn(
                name: "ListSpecJson",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "ObservedGeneration",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "ObservedInstanceId",
                table: "clusters");

            migrationBuilder.AddColumn<bool>(
                name: "Granted",
                table: "reservations",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<long>(
                name: "QueuedAt",
                table: "reservations",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AlterColumn<string>(
                name: "State",
                table: "clusters",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldMaxLength: 16,
                oldNullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_reservations_WorkspaceId_QueueName_Granted_QueuedAt",
                table: "reservations",
                columns: new[] { "WorkspaceId", "QueueName", "Granted", "QueuedAt" });
        }
    }
}
