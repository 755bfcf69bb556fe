"""Versions are digit strings up to 32 long, ordered as numbers, stored as numeric(32,0)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import MigrationFileError, MigrationManager
from personal_assistant.database.migrations.files import checksum, load_directory, parse_name
from tests.migrations.helpers import write

#: The tracking table as releases before numeric versions created it.
OLD_TRACKING_DDL = """
CREATE TABLE schema_migrations (
    version bigint PRIMARY KEY,
    description text NOT NULL,
    file_name text NOT NULL,
    checksum text NOT NULL,
    down_sql text,
    down_line integer NOT NULL DEFAULT 1,
    in_transaction boolean NOT NULL DEFAULT true,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    execution_ms bigint,
    success boolean NOT NULL,
    error text,
    allowed_findings jsonb NOT NULL DEFAULT '[]'::jsonb
)
"""


def versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


def column_type(dsn: str, column: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'schema_migrations'::regclass AND attname = %s"
            " AND NOT attisdropped",
            [column],
        ).fetchone()
    return None if row is None else str(row[0])


def test_a_32_digit_version_is_accepted_and_kept_as_an_int() -> None:
    name = "9" * 32
    assert parse_name(Path(f"{name}_big.sql")) == (int(name), "big")


def test_a_33_digit_version_is_a_file_error_on_line_1() -> None:
    with pytest.raises(MigrationFileError, match=r"_big.sql:1: version 1+ has 33 digits"):
        parse_name(Path(f"{'1' * 33}_big.sql"))


def test_versions_sort_as_numbers_not_as_text(tmp_path: Path) -> None:
    for name in ("10_b.sql", "9_a.sql", "12345678901234567890_c.sql", "0100_d.sql"):
        write(tmp_path, name, "SELECT 1;", "SELECT 1;")
    assert [f.version for f in load_directory(tmp_path)] == [9, 10, 100, 12345678901234567890]


async def test_a_too_long_version_stops_up_before_anything_runs(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_t.sql", "CREATE TABLE t (id bigint);", "DROP TABLE t;")
    write(tmp_path, f"{'2' * 33}_u.sql", "CREATE TABLE u (id bigint);", "DROP TABLE u;")
    async with MigrationManager(database_url, tmp_path) as manager:
        with pytest.raises(MigrationFileError, match=r"_u.sql:1: version"):
            await manager.upgrade()
    with psycopg.connect(database_dsn) as conn:
        found = conn.execute("SELECT to_regclass('t'), to_regclass('schema_migrations')")
        assert found.fetchone() == (None, None)


async def test_twenty_and_thirty_two_digit_versions_apply_and_roll_back(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    big, bigger = 20240101120000000001, int("9" * 32)
    write(tmp_path, "20240101120000_a.sql", "CREATE TABLE a (id bigint);", "DROP TABLE a;")
    write(tmp_path, f"{big}_b.sql", "CREATE TABLE b (id bigint);", "DROP TABLE b;")
    write(tmp_path, f"{bigger}_c.sql", "CREATE TABLE c (id bigint);", "DROP TABLE c;")
    async with MigrationManager(database_url, tmp_path) as manager:
        applied = await manager.upgrade()
        assert [r.version for r in applied] == [20240101120000, big, bigger]
        assert versions(database_dsn) == [20240101120000, big, bigger]
        assert column_type(database_dsn, "version") == "numeric(32,0)"
        status = await manager.status()
        assert status.current_version == bigger
        assert [r.version for r in await manager.downgrade(to=20240101120000)] == [bigger, big]
        assert versions(database_dsn) == [20240101120000]


async def test_an_old_bigint_tracking_table_is_widened_in_place_keeping_its_rows(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    first = write(tmp_path, "0001_a.sql", "CREATE TABLE a (id bigint);", "DROP TABLE a;")
    write(tmp_path, "20240101120000000001_b.sql", "CREATE TABLE b (id bigint);", "DROP TABLE b;")
    up = load_directory(tmp_path)[0].up.sql
    with psycopg.connect(database_dsn) as conn:
        conn.execute(OLD_TRACKING_DDL)
        conn.execute("CREATE TABLE a (id bigint)")
        conn.execute(
            "INSERT INTO schema_migrations (version, description, file_name, checksum,"
            " down_sql, success) VALUES (1, 'a', %s, %s, 'DROP TABLE a;', true)",
            [first.name, checksum(up)],
        )
    async with MigrationManager(database_url, tmp_path) as manager:
        # ``status`` reads the old table as it is (no notices column yet).
        before = await manager.status()
        assert [r.version for r in before.applied] == [1] and before.applied[0].notices == ()
        assert [r.version for r in await manager.upgrade()] == [20240101120000000001]
    assert column_type(database_dsn, "version") == "numeric(32,0)"
    assert column_type(database_dsn, "notices") == "jsonb"
    assert versions(database_dsn) == [1, 20240101120000000001]
