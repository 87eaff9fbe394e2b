using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ListTotals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_ray_jobs_WorkspaceId_SubmitTime",
                table: "ray_jobs");

            migrationBuilder.DropIndex(
                name: "IX_clusters_WorkspaceId_Deleted_CreateTime",
                table: "clusters");

            migrationBuilder.CreateTable(
                name: "workspace_totals",
                columns: table => new
                {
                    WorkspaceId = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    LiveClusters = table.Column<long>(type: "INTEGER", nullable: false),
                    Jobs = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_workspace_totals", x => x.WorkspaceId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_ray_jobs_WorkspaceId_SubmitTime_Id",
                table: "ray_jobs",
                columns: new[] { "WorkspaceId", "SubmitTime", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_clusters_WorkspaceId_CreateTime_Id_Deleted",
                table: "clusters",
                columns: new[] { "WorkspaceId", "CreateTime", "Id", "Deleted" });

            // The totals, kept by the store in the statement that changes a row (see WorkspaceTotalsRow): a cluster
            // counts while it is not a tombstone; a job counts while it exists.
            migrationBuilder.Sql("""
                CREATE TRIGGER "clusters_totals_insert" AFTER INSERT ON "clusters" WHEN NOT NEW."Deleted"
                BEGIN
                    INSERT INTO "workspace_totals" ("WorkspaceId", "LiveClusters", "Jobs") VALUES (NEW."WorkspaceId", 1, 0)
                    ON CONFLICT ("WorkspaceId") DO UPDATE SET "LiveClusters" = "LiveClusters" + 1;
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "clusters_totals_update" AFTER UPDATE OF "Deleted", "WorkspaceId" ON "clusters"
                WHEN OLD."Deleted" IS NOT NEW."Deleted" OR OLD."WorkspaceId" IS NOT NEW."WorkspaceId"
                BEGIN
                    UPDATE "workspace_totals" SET "LiveClusters" = "LiveClusters" - 1
                    WHERE "WorkspaceId" = OLD."WorkspaceId" AND NOT OLD."Deleted";
                    INSERT INTO "workspace_totals" ("WorkspaceId", "LiveClusters", "Jobs") SELECT NEW."WorkspaceId", 1, 0 WHERE NOT NEW."Deleted"
                    ON CONFLICT ("WorkspaceId") DO UPDATE SET "LiveClusters" = "LiveClusters" + 1;
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "clusters_totals_delete" AFTER DELETE ON "clusters" WHEN NOT OLD."Deleted"
                BEGIN
                    UPDATE "workspace_totals" SET "LiveClusters" = "LiveClusters" - 1 WHERE "WorkspaceId" = OLD."WorkspaceId";
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "ray_jobs_totals_insert" AFTER INSERT ON "ray_jobs"
                BEGIN
                    INSERT INTO "workspace_totals" ("WorkspaceId", "LiveClusters", "Jobs") VALUES (NEW."WorkspaceId", 0, 1)
                    ON CONFLICT ("WorkspaceId") DO UPDATE SET "Jobs" = "Jobs" + 1;
                END;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER "ray_jobs_totals_delete" AFTER DELETE ON "ray_jobs"
                BEGIN
                    UPDATE "workspace_totals" SET "Jobs" = "Jobs" - 1 WHERE "WorkspaceId" = OLD."WorkspaceId";
                END;
                """);
            // The rows already stored, counted once.
            migrationBuilder.Sql("""
                INSERT INTO "workspace_totals" ("WorkspaceId", "LiveClusters", "Jobs")
                SELECT w."Id",
                       (SELECT COUNT(*) FROM "clusters" c WHERE c."WorkspaceId" = w."Id" AND NOT c."Deleted"),
                       (SELECT COUNT(*) FROM "ray_jobs" j WHERE j."WorkspaceId" = w."Id")
                FROM (SELECT "WorkspaceId" AS "Id" FROM "clusters" UNION SELECT "WorkspaceId" FROM "ray_jobs") w;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            foreach (var trigger in new[] { "clusters_totals_insert", "clusters_totals_update", "clusters_totals_delete", "ray_jobs_totals_insert", "ray_jobs_totals_delete" })
                migrationBuilder.Sql($"DROP TRIGGER IF EXISTS \"{trigger}\";");

            migrationBuilder.DropTable(
                name: "workspace_totals");

            migrationBuilder.DropIndex(
                name: "IX_ray_jobs_WorkspaceId_SubmitTime_Id",
                table: "ray_jobs");

            migrationBuilder.DropIndex(
                name: "IX_clusters_WorkspaceId_CreateTime_Id_Deleted",
                table: "clusters");

            migrationBuilder.CreateIndex(
                name: "IX_ray_jobs_WorkspaceId_SubmitTime",
                table: "ray_jobs",
                columns: new[] { "WorkspaceId", "SubmitTime" });

            migrationBuilder.CreateIndex(
                name: "IX_clusters_WorkspaceId_Deleted_CreateTime",
                table: "clusters",
                columns: new[] { "WorkspaceId", "Deleted", "CreateTime" });
        }
    }
}
