"""Five ``pa-db migrate up`` processes at once: each migration runs exactly once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psycopg

from tests.migrations.helpers import write

RUNNERS = 5


def counting_migrations(directory: Path) -> None:
    """Each migration records its own run in ``runs``, so a second run would show."""
    write(
        directory,
        "0001_runs.sql",
        "CREATE TABLE runs (version int NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid());\n"
        "INSERT INTO runs (version) VALUES (1);",
        "DROP TABLE runs;",
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


async def run_cli(database_url: str, directory: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "personal_assistant.cli.main",
        "migrate",
        "up",
        "--database-url",
        database_url,
        "--directory",
        str(directory),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_concurrent_runners_apply_each_migration_exactly_once(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    counting_migrations(tmp_path)
    results = await asyncio.gather(*(run_cli(database_url, tmp_path) for _ in range(RUNNERS)))
    assert [code for code, _ in results] == [0] * RUNNERS, results
    with psycopg.connect(database_dsn) as conn:
        runs = conn.execute("SELECT version FROM runs ORDER BY version").fetchall()
        tracked = conn.execute(
            "SELECT version, success FROM schema_migrations ORDER BY version"
        ).fetchall()
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'runs_version_idx'::regclass"
        ).fetchone()
    assert runs == [(1,), (2,), (3,)]
    assert tracked == [(1, True), (2, True), (3, True)]
    assert valid == (True,)
    outputs = [out for _, out in results]
    assert sum("applied 0001_runs.sql" in out for out in outputs) == 1
    assert sum("nothing to do" in out for out in outputs) >= 1
