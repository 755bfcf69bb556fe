"""No-transaction migrations: CONCURRENTLY works, half-way failures are reported and block."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import (
    DirtyDatabaseError,
    MigrationFailedError,
    MigrationManager,
    State,
)
from tests.migrations.helpers import basic, write


def index_state(dsn: str, name: str) -> bool | None:
    """``True`` valid, ``False`` INVALID, ``None`` absent."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [name],
        ).fetchone()
    return None if row is None else bool(row[0])


def execute(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


async def test_create_index_concurrently_applies_and_rolls_back(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    write(
        tmp_path,
        "0003_items_name_idx.sql",
        "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);",
        "DROP INDEX CONCURRENTLY items_name_idx;",
        no_tx=True,
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        assert [r.version for r in await manager.upgrade()] == [1, 2, 3]
        assert index_state(database_dsn, "items_name_idx") is True
        assert (await manager.status()).entries[2].state is State.APPLIED
        await manager.downgrade()
        assert index_state(database_dsn, "items_name_idx") is None


async def test_half_way_failure_is_recorded_reported_and_blocks_until_cleaned(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        execute(database_dsn, "INSERT INTO items (name) VALUES ('dup'), ('dup')")
        write(
            tmp_path,
            "0003_unique_name.sql",
            "CREATE UNIQUE INDEX CONCURRENTLY items_name_key ON items (name);",
            "DROP INDEX CONCURRENTLY IF EXISTS items_name_key;",
            no_tx=True,
        )
        with pytest.raises(MigrationFailedError) as info:
            await manager.upgrade()
        message = str(info.value)
        assert "0003_unique_name.sql" in message
        assert "INVALID index public.items_name_key" in message
        assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."items_name_key";' in message
        assert index_state(database_dsn, "items_name_key") is False

        status = await manager.status()
        assert status.entries[2].state is State.FAILED
        with pytest.raises(DirtyDatabaseError, match="0003_unique_name.sql"):
            await manager.upgrade()
        with pytest.raises(DirtyDatabaseError, match="items_name_key"):
            await manager.repair()  # refuses while the invalid index is still there

        execute(database_dsn, 'DROP INDEX CONCURRENTLY IF EXISTS "public"."items_name_key"')
        execute(database_dsn, "DELETE FROM items WHERE ctid = (SELECT max(ctid) FROM items)")
        assert await manager.repair() == [3]
        assert [r.version for r in await manager.upgrade()] == [3]
    assert index_state(database_dsn, "items_name_key") is True


async def test_failure_in_the_first_statement_with_nothing_left_is_not_recorded(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        write(
            tmp_path,
            "0003_bad_column.sql",
            "CREATE INDEX CONCURRENTLY items_x_idx ON items (no_such_column);",
            no_tx=True,
        )
        with pytest.raises(MigrationFailedError, match="no_such_column"):
            await manager.upgrade()
        assert (await manager.status()).entries[2].state is State.PENDING


async def test_if_not_exists_keeping_an_invalid_index_is_caught(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        # An earlier, failed attempt left an INVALID index behind.
        execute(database_dsn, "INSERT INTO items (name) VALUES ('dup'), ('dup')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            execute(database_dsn, "CREATE UNIQUE INDEX CONCURRENTLY items_name_key ON items (name)")
        execute(database_dsn, "DELETE FROM items")
        write(
            tmp_path,
            "0003_unique_name.sql",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_name_key ON items (name);",
            "DROP INDEX CONCURRENTLY IF EXISTS items_name_key;",
            no_tx=True,
        )
        with pytest.raises(MigrationFailedError) as info:
            await manager.upgrade()
        assert info.value.line == 3  # after the no-transaction and up markers
        assert "left an INVALID index" in str(info.value)
        assert (await manager.status()).entries[2].state is State.FAILED
