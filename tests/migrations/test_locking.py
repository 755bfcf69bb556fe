"""Locks: lock_timeout retries naming the blocker, and the advisory lock between runners."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import (
    LockTimeoutError,
    MigrationBlockedError,
    MigrationManager,
    RunnerSettings,
)
from personal_assistant.database.migrations.lock import lock_key
from tests.migrations.helpers import basic, write

FAST = RunnerSettings(lock_timeout_ms=150, lock_retries=2, retry_delay_s=0.05)


def add_note_column(directory: Path) -> None:
    write(
        directory,
        "0003_item_note.sql",
        "ALTER TABLE items ADD COLUMN note text;",
        "ALTER TABLE items DROP COLUMN note;",
    )


def has_note(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'items' AND column_name = 'note'"
        ).fetchone()
    return row == (1,)


async def test_lock_timeout_is_retried_then_names_the_blocking_session(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path), settings=FAST) as manager:
        await manager.upgrade()
        add_note_column(tmp_path)
        with psycopg.connect(database_dsn, application_name="report-job") as blocker:
            blocker.execute("SELECT count(*) FROM items")  # holds ACCESS SHARE until rollback
            pid = blocker.info.backend_pid
            with pytest.raises(MigrationBlockedError) as info:
                await manager.upgrade()
            blocker.rollback()
    err = info.value
    assert err.attempts == 3
    assert "0003_item_note.sql:2" in str(err)
    assert f"pid {pid}" in str(err) and "report-job" in str(err)
    assert not has_note(database_dsn)


async def test_lock_timeout_retry_succeeds_once_the_blocker_is_gone(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    settings = RunnerSettings(lock_timeout_ms=100, lock_retries=10, retry_delay_s=0.1)
    async with MigrationManager(database_url, basic(tmp_path), settings=settings) as manager:
        await manager.upgrade()
        add_note_column(tmp_path)
        with psycopg.connect(database_dsn) as blocker:
            blocker.execute("SELECT count(*) FROM items")
            asyncio.get_running_loop().call_later(0.4, blocker.rollback)
            (result,) = await manager.upgrade()
    assert result.attempts > 1
    assert has_note(database_dsn)


async def test_waiting_runner_gives_up_naming_the_lock_holder(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    settings = RunnerSettings(wait_timeout_s=0.5, poll_interval_s=0.1)
    with psycopg.connect(database_dsn, autocommit=True, application_name="other-runner") as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_key("public", "schema_migrations")])
        async with MigrationManager(database_url, basic(tmp_path), settings=settings) as manager:
            with pytest.raises(LockTimeoutError, match="other-runner"):
                await manager.upgrade()


async def test_waiting_runner_holds_no_transaction_or_snapshot(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    settings = RunnerSettings(poll_interval_s=0.05)
    key = lock_key("public", "schema_migrations")
    with psycopg.connect(database_dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [key])
        async with MigrationManager(database_url, basic(tmp_path), settings=settings) as manager:
            task = asyncio.create_task(manager.upgrade())
            await asyncio.sleep(0.5)
            waiting = other.execute(
                "SELECT state, backend_xmin IS NULL, backend_xid IS NULL FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            ).fetchall()
            other.execute("SELECT pg_advisory_unlock(%s)", [key])
            assert [r.version for r in await task] == [1, 2]
    assert waiting and all(row == ("idle", True, True) for row in waiting)
