using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class RayJobs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "JobId",
                table: "clusters",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "LastBusyAt",
                table: "clusters",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "StopReason",
                table: "clusters",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "UsageCuMs",
                table: "clusters",
                type: "TEXT",
                precision: 28,
                scale: 3,
                nullable: false,
                defaultValue: 0m);

            migrationBuilder.AddColumn<decimal>(
                name: "UsageGpuMs",
                table: "clusters",
                type: "TEXT",
                precision: 28,
                scale: 3,
                nullable: false,
                defaultValue: 0m);

            migrationBuilder.AddColumn<long>(
                name: "UsageObservedAt",
                table: "clusters",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "ray_jobs",
                columns: table => new
                {
                    Id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    WorkspaceId = table.Column<string>(type: "TEXT", nullable: false),
                    Provider = table.Column<string>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    SpecJson = table.Column<string>(type: "TEXT", nullable: false),
                    ClusterId = table.Column<string>(type: "TEXT", nullable: false),
                    OwnsCluster = table.Column<bool>(type: "INTEGER", nullable: false),
                    QueueName = table.Column<string>(type: "TEXT", nullable: true),
                    SubmitTime = table.Column<long>(type: "INTEGER", nullable: false),
                    DeadlineAt = table.Column<long>(type: "INTEGER", nullable: true),
                    CancelRequested = table.Column<bool>(type: "INTEGER", nullable: false),
                    Creator = table.Column<string>(type: "TEXT", nullable: true),
                    Generation = table.Column<long>(type: "INTEGER", nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Message = table.Column<string>(type: "TEXT", nullable: true),
                    ClusterState = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    RaySubmitted = table.Column<bool>(type: "INTEGER", nullable: false),
                    StartTime = table.Column<long>(type: "INTEGER", nullable: true),
                    EndTime = table.Column<long>(type: "INTEGER", nullable: true),
                    UsageCuMsAtStart = table.Column<decimal>(type: "TEXT", precision: 28, scale: 3, nullable: true),
                    UsageGpuMsAtStart = table.Column<decimal>(type: "TEXT", precision: 28, scale: 3, nullable: true),
                    UsageCuMs = table.Column<decimal>(type: "TEXT", precision: 28, scale: 3, nullable: false),
                    UsageGpuMs = table.Column<decimal>(type: "TEXT", precision: 28, scale: 3, nullable: false),
                    GpuSpec = table.Column<string>(type: "TEXT", nullable: true),
                    DashboardUrl = table.Column<string>(type: "TEXT", nullable: true),
                    DriverLogBytes = table.Column<long>(type: "INTEGER", nullable: false),
                    ObservedGeneration = table.Column<long>(type: "INTEGER", nullable: false),
                    Version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ray_jobs", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_ray_jobs_ClusterId",
                table: "ray_jobs",
                column: "ClusterId");

            migrationBuilder.CreateIndex(
                name: "IX_ray_jobs_WorkspaceId_SubmitTime",
                table: "ray_jobs",
                columns: new[] { "WorkspaceId", "SubmitTime" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ray_jobs");

            migrationBuilder.DropColumn(
                name: "JobId",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "LastBusyAt",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "StopReason",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageCuMs",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageGpuMs",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageObservedAt",
                table: "clusters");
        }
    }
}
