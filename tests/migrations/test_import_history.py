"""A generated golang-migrate history, imported and applied, gives psql's schema exactly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from personal_assistant.database.migrations import IrreversibleMigrationError, MigrationManager
from personal_assistant.database.migrations.importers import import_directory
from tests.fixtures.postgres import ServerInfo, create_database, drop_database, find_pg_bin
from tests.migrations import golang_history

#: Tracking tables (pa-db's, and those of the tools it adopts from) are not the schema.
TRACKING_TABLES = ("schema_migrations*", "flyway_schema_history", "alembic_version")


def schema_dump(dsn: str) -> str:
    """``pg_dump --schema-only`` without tracking tables and pg_dump's per-run lines."""
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    excluded = [arg for table in TRACKING_TABLES for arg in ("-T", table)]
    out = subprocess.run(
        [str(bin_dir / "pg_dump"), "--schema-only", "--no-owner", *excluded, dsn],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # pg_dump 15.14+ brackets the dump with \restrict KEY / \unrestrict KEY (a random key).
    return "\n".join(
        line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def psql_apply(dsn: str, files: list[Path]) -> None:
    """Apply each file as golang-migrate would: the file as is, in version order."""
    for file in files:
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(file)],
            check=True,
            capture_output=True,
        )


async def test_an_imported_history_applies_to_the_schema_psql_gives(
    pg_server: ServerInfo, database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    source, target = tmp_path / "golang", tmp_path / "pa"
    versions = golang_history.generate(source, count=56)
    assert {len(str(v)) for v in versions} == {14, 17, 20}

    report = import_directory("golang-migrate", source, target)
    assert len(report.written) == 56 and report.skipped == ()
    noted = dict(report.notes)
    concurrent = f"{golang_history.version(golang_history.CONCURRENT_AT)}_step_013.sql"
    assert noted[concurrent].startswith("runs outside a transaction: CREATE INDEX CONCURRENTLY")

    async with MigrationManager(database_url, target) as manager:
        applied = await manager.upgrade()
    assert [r.version for r in applied] == versions

    by_psql = create_database(pg_server, "psql")
    try:
        psql_dsn = pg_server.url(by_psql, driver="postgresql")
        psql_apply(psql_dsn, golang_history.up_files(source))
        assert schema_dump(database_dsn) == schema_dump(psql_dsn)
    finally:
        drop_database(pg_server, by_psql)


async def test_the_imported_downs_restore_the_schema_up_to_a_file_without_a_down(
    pg_server: ServerInfo, database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    source, target = tmp_path / "golang", tmp_path / "pa"
    golang_history.generate(source, count=15)
    import_directory("golang-migrate", source, target)
    keep = golang_history.version(7)  # index 7 has no down file: irreversible
    async with MigrationManager(database_url, target) as manager:
        await manager.upgrade()
        rolled = await manager.downgrade(to=keep)
        assert [r.version for r in rolled] == [golang_history.version(i) for i in range(14, 7, -1)]
        with pytest.raises(IrreversibleMigrationError, match="has no down section"):
            await manager.downgrade(steps=1)

    by_psql = create_database(pg_server, "psql")
    try:
        psql_dsn = pg_server.url(by_psql, driver="postgresql")
        psql_apply(psql_dsn, golang_history.up_files(source)[:8])
        assert schema_dump(database_dsn) == schema_dump(psql_dsn)
    finally:
        drop_database(pg_server, by_psql)
