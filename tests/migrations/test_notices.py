"""Notices the server sends while a migration runs are stored with the migration."""

from __future__ import annotations

from pathlib import Path

from personal_assistant.database.migrations import MigrationManager
from tests.migrations.helpers import write

LONG = "a_table_name_that_is_much_longer_than_the_sixty_three_bytes_postgres_keeps"


async def test_a_truncated_identifier_notice_is_stored_with_the_migration(
    database_url: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_long.sql", f"CREATE TABLE {LONG} (id bigint);", f"DROP TABLE {LONG};")
    write(tmp_path, "0002_quiet.sql", "CREATE TABLE quiet (id bigint);", "DROP TABLE quiet;")
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        rows = (await manager.status()).applied
    assert rows[0].notices == (f'NOTICE: identifier "{LONG}" will be truncated to "{LONG[:63]}"',)
    assert rows[1].notices == ()


async def test_notices_of_a_no_transaction_migration_are_stored_when_it_finishes(
    database_url: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_t.sql", "CREATE TABLE t (id bigint);", "DROP TABLE t;")
    write(
        tmp_path,
        "0002_idx.sql",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);",
        "DROP INDEX CONCURRENTLY IF EXISTS t_id_idx;",
        no_tx=True,
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        rows = (await manager.status()).applied
    assert rows[1].notices == ('NOTICE: relation "t_id_idx" already exists, skipping',)


def test_the_linter_flags_identifiers_longer_than_63_bytes_from_the_tokens() -> None:
    from personal_assistant.database.migrations.validation import lint_sql

    sql = (
        f"CREATE TABLE {LONG} (id bigint, note text DEFAULT '{LONG}');\n"
        f'CREATE INDEX "{"é" * 32}" ON {LONG} (id);\n'  # 64 bytes, 32 characters
        "-- a comment naming " + LONG + "\n"
        f"CREATE TABLE short_enough_{'x' * 50} (id bigint);\n"  # exactly 63 bytes
    )
    found = [(f.line, f.message) for f in lint_sql(sql).findings if f.rule == "identifier-too-long"]
    long_name = (
        f"{LONG} is 74 bytes: PostgreSQL keeps the first 63 and names it {LONG[:63]}, "
        "saying so only in a NOTICE"
    )
    accented = (
        f"{'é' * 32} is 64 bytes: PostgreSQL keeps the first 63 and names it {'é' * 31}, "
        "saying so only in a NOTICE"
    )
    # Per statement: the index's statement names the long table again.
    assert found == [(1, long_name), (2, accented), (2, long_name)]
