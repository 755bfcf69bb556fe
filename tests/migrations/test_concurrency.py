"""Concurrent ``pa-db migrate up`` processes, on a machine kept busy on purpose.

The race this guards: a runner that read the tracking table without the lock while
another runner was half-way through a no-transaction migration saw its row (on record
as unfinished until it ends) as "failed half-way, repair first" and exited 1. Now a
runner decides under the lock, and an unfinished row whose runner is alive reads as
*running*. The first test makes that moment happen deterministically: runner A is
held inside its no-transaction migration by a gate only the test opens.

Every test here runs with CPU burners on each core (:func:`cpu_load`), the load under
which the race showed up on a fresh clone.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import MigrationManager, State
from tests.migrations.helpers import write

RUNNERS = 5
WAIT_S = 120  # generous: the machine is loaded on purpose


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """A busy-looping process per core (plus one) for the duration of the test."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range((os.cpu_count() or 1) + 1)
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


def counting_migrations(directory: Path) -> None:
    """Each migration records its own run in ``runs``, so a second run would show."""
    write(
        directory,
        "0001_runs.sql",
        "CREATE TABLE runs (version int NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid());\n"
        "CREATE TABLE gate (opened_at timestamptz NOT NULL DEFAULT now());\n"
        "INSERT INTO runs (version) VALUES (1);",
        "DROP TABLE gate;\nDROP TABLE runs;",
    )
    write(
        directory,
        "0002_slow.sql",
        "SELECT pg_sleep(0.3);\nINSERT INTO runs (version) VALUES (2);",
        "DELETE FROM runs WHERE version = 2;",
    )
    write(
        directory,
        "0003_concurrent_index.sql",
        "CREATE INDEX CONCURRENTLY runs_version_idx ON runs (version);\n"
        "INSERT INTO runs (version) VALUES (3);",
        "DROP INDEX CONCURRENTLY runs_version_idx;",
        no_tx=True,
    )


def gated_migrations(directory: Path) -> None:
    """Like :func:`counting_migrations`, but 0003 waits, half-way, for a row in ``gate``."""
    counting_migrations(directory)
    write(
        directory,
        "0003_concurrent_index.sql",
        "CREATE INDEX CONCURRENTLY runs_version_idx ON runs (version);\n"
        "DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM gate) LOOP PERFORM pg_sleep(0.02); "
        "END LOOP; END $$;\n"
        "INSERT INTO runs (version) VALUES (3);",
        "DROP INDEX CONCURRENTLY runs_version_idx;",
        no_tx=True,
    )


async def start_cli(database_url: str, directory: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "1000"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "personal_assistant.cli.main", "migrate", "up",
        "--database-url", database_url, "--directory", str(directory),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip


async def run_cli(database_url: str, directory: Path) -> tuple[int, str]:
    proc = await start_cli(database_url, directory)
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT_S)
    return proc.returncode or 0, out.decode()


async def read_until(proc: asyncio.subprocess.Process, needle: str) -> str:
    """``proc``'s output up to the line holding ``needle`` (it must still be running)."""
    assert proc.stdout is not None
    seen = ""
    while needle not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
        assert line, f"exited ({proc.returncode}) before saying {needle!r}:\n{seen}"
        seen += line.decode()
    return seen


async def until(condition: str, dsn: str) -> None:
    """Poll ``condition`` (a boolean SQL expression) until it holds."""
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not conn.execute(f"SELECT {condition}").fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, f"never true: {condition}"
            await asyncio.sleep(0.05)


def recorded(dsn: str) -> tuple[list[tuple[int, ...]], list[tuple[int, bool]], bool | None]:
    with psycopg.connect(dsn) as conn:
        runs = conn.execute("SELECT version FROM runs ORDER BY version").fetchall()
        tracked = conn.execute(
            "SELECT version::int, success FROM schema_migrations ORDER BY version"
        ).fetchall()
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'runs_version_idx'::regclass"
        ).fetchone()
    return runs, tracked, None if valid is None else bool(valid[0])


MID_WAY = (
    "EXISTS (SELECT FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'DO $$%gate%')"
)


@pytest.mark.usefixtures("cpu_load")
async def test_a_runner_behind_a_running_no_transaction_migration_waits_then_has_nothing_to_do(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    gated_migrations(tmp_path)
    first = await start_cli(database_url, tmp_path)
    await until(MID_WAY, database_dsn)  # A is inside 0003, its row on record as unfinished

    async with MigrationManager(database_url, tmp_path) as manager:
        status = await manager.status()
    assert [(e.version, e.state) for e in status.entries][2] == (3, State.RUNNING)

    second = await start_cli(database_url, tmp_path)
    waiting = await read_until(second, "waiting for the migration lock")
    assert second.returncode is None  # B waits: it neither failed nor went ahead
    assert "migrating on pid" in waiting and "DO $$" in waiting  # what A is doing

    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO gate DEFAULT VALUES")
    out_first, _ = await asyncio.wait_for(first.communicate(), WAIT_S)
    out_second, _ = await asyncio.wait_for(second.communicate(), WAIT_S)

    assert (first.returncode, second.returncode) == (0, 0), (out_first, waiting, out_second)
    assert "applied 0003_concurrent_index.sql" in out_first.decode()
    assert "nothing to do" in out_second.decode()
    assert recorded(database_dsn) == ([(1,), (2,), (3,)], [(1, True), (2, True), (3, True)], True)


@pytest.mark.usefixtures("cpu_load")
async def test_concurrent_runners_apply_each_migration_exactly_once(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    counting_migrations(tmp_path)
    results = await asyncio.gather(*(run_cli(database_url, tmp_path) for _ in range(RUNNERS)))
    assert [code for code, _ in results] == [0] * RUNNERS, results
    assert recorded(database_dsn) == ([(1,), (2,), (3,)], [(1, True), (2, True), (3, True)], True)
    outputs = [out for _, out in results]
    assert sum("applied 0001_runs.sql" in out for out in outputs) == 1
    assert sum("nothing to do" in out for out in outputs) == RUNNERS - 1
