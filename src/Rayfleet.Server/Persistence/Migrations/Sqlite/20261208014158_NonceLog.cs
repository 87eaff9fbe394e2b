using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Rayfleet.Server.Persistence.Migrations.Sqlite
{
    /// <summary>
    /// Signature nonces become a log keyed by sequence (see NonceLedger). The table is replaced rather than rebuilt:
    /// the old rows hold the nonces themselves, not their hashes, and SQLite cannot hash them here; a request replayed
    /// within 30 minutes across this upgrade is the one thing that is not caught.
    /// </summary>
    public partial class NonceLog : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(name: "signature_nonces");
            migrationBuilder.CreateTable(
                name: "signature_nonces",
                columns: table => new
                {
                    Seq = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    KeyHigh = table.Column<long>(type: "INTEGER", nullable: false),
                    KeyLow = table.Column<long>(type: "INTEGER", nullable: false),
                    ExpiresAt = table.Column<long>(type: "INTEGER", nullable: false),
                },
                constraints: table => table.PrimaryKey("PK_signature_nonces", x => x.Seq));
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(name: "signature_nonces");
            migrationBuilder.CreateTable(
                name: "signature_nonces",
                columns: table => new
                {
                    AccessKeyId = table.Column<string>(type: "TEXT", nullable: false),
                    Nonce = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    ExpiresAt = table.Column<long>(type: "INTEGER", nullable: false),
                },
                constraints: table => table.PrimaryKey("PK_signature_nonces", x => new { x.AccessKeyId, x.Nonce }));
            migrationBuilder.CreateIndex(name: "IX_signature_nonces_ExpiresAt", table: "signature_nonces", column: "ExpiresAt");
        }
    }
}
