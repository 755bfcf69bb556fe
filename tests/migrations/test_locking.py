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


GATE_WAIT = (
    "DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;"
)


async def wait_until_active(dsn: str, fragment: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(1200):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                [f"%{fragment}%"],
            ).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing ran {fragment!r}")


@pytest.mark.parametrize("no_tx", [False, True], ids=["transactional", "no-transaction"])
async def test_the_lock_wait_message_says_what_the_holders_migration_is_doing(
    database_url: str, database_dsn: str, tmp_path: Path, no_tx: bool
) -> None:
    write(tmp_path, "0001_gate.sql", "CREATE TABLE gate (id int);", "DROP TABLE gate;")
    write(tmp_path, "0002_wait.sql", GATE_WAIT, "SELECT 1;", no_tx=no_tx)
    async with MigrationManager(database_url, tmp_path) as holder:
        running = asyncio.create_task(holder.upgrade())
        await wait_until_active(database_dsn, "FROM gate")
        waiter = RunnerSettings(wait_timeout_s=0.3, poll_interval_s=0.1)
        async with MigrationManager(database_url, tmp_path, settings=waiter) as other:
            with pytest.raises(LockTimeoutError) as info:
                await other.upgrade()
        with psycopg.connect(database_dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO gate VALUES (1)")
        assert [r.version for r in await running] == [1, 2]
    message = str(info.value)
    assert "migrating on pid" in message, message
    assert "active, query started" in message and "WHILE NOT EXISTS" in message
    assert "idle for" not in message.split("migrating on")[1]
