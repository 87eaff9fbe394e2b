using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ClusterUsageRate : Migration
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
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "UsageCuRate",
                table: "clusters");

            migrationBuilder.DropColumn(
                name: "UsageGpuRate",
                table: "clusters");
        }
    }
}
