"""A present but empty section is a recorded no-op; a missing down stays irreversible."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import IrreversibleMigrationError, MigrationManager
from personal_assistant.database.migrations.tracking import EMPTY_DOWN


def write_text(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def stored(dsn: str) -> list[tuple[int, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version, down_sql FROM schema_migrations ORDER BY 1")
        return [(int(v), d) for v, d in rows.fetchall()]


async def test_empty_up_and_down_sections_are_recorded_and_rolled_back_as_no_ops(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write_text(
        tmp_path, "0001_nothing.sql", "-- migrate:up\n-- intentionally empty\n-- migrate:down\n"
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        assert [r.version for r in await manager.upgrade()] == [1]
        assert stored(database_dsn) == [(1, EMPTY_DOWN)]
        assert [r.version for r in await manager.downgrade()] == [1]
    assert stored(database_dsn) == []


async def test_an_empty_down_after_a_real_up_rolls_back_nothing_and_verify_says_so(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write_text(
        tmp_path, "0001_t.sql", "-- migrate:up\nCREATE TABLE t (id bigint);\n-- migrate:down\n"
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        await manager.downgrade()
        report = await manager.verify()
    with psycopg.connect(database_dsn) as conn:
        assert conn.execute("SELECT to_regclass('t') IS NOT NULL").fetchone() == (True,)
    assert [r.outcome for r in report.results] == ["not-restored"]


async def test_a_missing_down_marker_still_means_irreversible(
    database_url: str, tmp_path: Path
) -> None:
    write_text(tmp_path, "0001_t.sql", "-- migrate:up\nCREATE TABLE t (id bigint);\n")
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        with pytest.raises(IrreversibleMigrationError, match="0001_t.sql: migration 1 has no"):
            await manager.downgrade()


async def test_an_empty_no_transaction_migration_is_recorded_as_succeeded(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write_text(
        tmp_path, "0001_idx.sql", "-- migrate:no-transaction\n-- migrate:up\n-- migrate:down\n"
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        status = await manager.status()
    assert [(r.version, r.success, r.in_transaction) for r in status.applied] == [(1, True, False)]
