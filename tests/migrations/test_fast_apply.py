"""A transactional section goes in one message, and a failure still names its file line.

The runner sends the whole up section (with BEGIN and its settings) as one
simple-query message. These tests plant a failing statement in the middle of a large
file and check that the error names exactly its line and statement, both when
PostgreSQL reports a position (found at once) and when it does not (found by running
the section again statement by statement), and that nothing of the file remains.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import (
    MigrationBlockedError,
    MigrationFailedError,
    MigrationManager,
    RunnerSettings,
)
from tests.migrations.helpers import write

ROWS = 3000


def large_file(directory: Path, failing: str) -> int:
    """``0002_load.sql``: ``ROWS`` inserts with ``failing`` in the middle; its file line."""
    lines = ["-- migrate:up", "CREATE TABLE loaded (id bigint PRIMARY KEY, note text);"]
    for i in range(ROWS):
        if i == ROWS // 2:
            lines.append(failing)
            failing_line = len(lines)
        lines.append(f"INSERT INTO loaded (id, note) VALUES ({i}, 'row {i}');")
    lines += ["-- migrate:down", "DROP TABLE loaded;"]
    (directory / "0002_load.sql").write_text("\n".join(lines) + "\n")
    return failing_line


def first(directory: Path) -> None:
    write(directory, "0001_base.sql", "CREATE TABLE base (id bigint);", "DROP TABLE base;")


def state(dsn: str) -> tuple[bool, list[int]]:
    with psycopg.connect(dsn) as conn:
        loaded = conn.execute("SELECT to_regclass('loaded') IS NOT NULL").fetchone()
        versions = conn.execute("SELECT version::int FROM schema_migrations").fetchall()
    return bool(loaded and loaded[0]), [v for (v,) in versions]


async def failure(database_url: str, directory: Path) -> MigrationFailedError:
    async with MigrationManager(database_url, directory) as manager:
        with pytest.raises(MigrationFailedError) as info:
            await manager.upgrade()
    return info.value


async def test_a_large_file_applies_in_one_go(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    first(tmp_path)
    large_file(tmp_path, "UPDATE loaded SET note = upper(note);")
    async with MigrationManager(database_url, tmp_path) as manager:
        assert [r.attempts for r in await manager.upgrade()] == [1, 1]
    with psycopg.connect(database_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM loaded").fetchone() == (ROWS,)


async def test_an_error_with_a_position_names_its_line_in_a_large_file(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    first(tmp_path)
    line = large_file(tmp_path, "INSERT INTO loaded (id, no_such_column) VALUES (-1, 'x');")
    err = await failure(database_url, tmp_path)
    assert (Path(err.path).name, err.line) == ("0002_load.sql", line)
    assert err.statement.startswith("INSERT INTO loaded (id, no_such_column)")
    assert "[42703]" in err.reason and err.state.startswith("rolled back cleanly")
    assert state(database_dsn) == (False, [1])


async def test_an_error_without_a_position_is_found_by_running_the_section_again(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    first(tmp_path)
    line = large_file(tmp_path, "INSERT INTO loaded (id, note) VALUES (0, 'duplicate');")
    err = await failure(database_url, tmp_path)
    assert (Path(err.path).name, err.line) == ("0002_load.sql", line)
    assert err.statement == "INSERT INTO loaded (id, note) VALUES (0, 'duplicate')"
    assert "[23505]" in err.reason
    assert state(database_dsn) == (False, [1])


async def test_the_line_inside_a_multi_line_statement_is_named(
    database_url: str, tmp_path: Path
) -> None:
    first(tmp_path)
    line = large_file(tmp_path, "INSERT INTO loaded (id, note)\nVALUES\n  (-1, 'x'::int::text);")
    err = await failure(database_url, tmp_path)
    assert err.line == line + 2  # the bad literal, not the statement's first line


async def test_a_lock_timeout_in_a_section_is_retried_and_names_the_blocked_statement(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    first(tmp_path)
    write(
        tmp_path,
        "0002_three.sql",
        "CREATE TABLE free (id bigint);\nALTER TABLE base ADD COLUMN note text;\n"
        "CREATE TABLE other (id bigint);",
        "DROP TABLE other;\nALTER TABLE base DROP COLUMN note;\nDROP TABLE free;",
    )
    settings = RunnerSettings(lock_timeout_ms=100, lock_retries=1, retry_delay_s=0.05)
    async with MigrationManager(database_url, tmp_path, settings=settings) as manager:
        await manager.upgrade(to=1)
        with psycopg.connect(database_dsn, application_name="long-report") as blocker:
            blocker.execute("SELECT count(*) FROM base")  # ACCESS SHARE until rollback
            with pytest.raises(MigrationBlockedError) as info:
                await manager.upgrade()
            blocker.rollback()
    err = info.value
    assert (Path(err.path).name, err.line, err.attempts) == ("0002_three.sql", 3, 2)
    assert err.statement.startswith("ALTER TABLE base ADD COLUMN note")
    assert "long-report" in str(err)
