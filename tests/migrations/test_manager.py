"""MigrationManager against real PostgreSQL: apply, roll back, tamper, failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from pglast import parser

from personal_assistant.database.migrations import (
    ChecksumMismatchError,
    DangerousMigrationError,
    IrreversibleMigrationError,
    MigrationFailedError,
    MigrationFileError,
    MigrationManager,
    MissingMigrationError,
    State,
)
from personal_assistant.database.migrations.files import load_directory
from tests.migrations.helpers import basic, write


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def columns(dsn: str, table: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table]
        ).fetchall()
    return {r[0] for r in rows}


def tracking(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT version, file_name, checksum, down_sql, applied_by, execution_ms, success,"
            " allowed_findings FROM schema_migrations ORDER BY version"
        ).fetchall()


async def test_apply_roll_back_and_apply_again(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        applied = await manager.upgrade()
        assert [r.version for r in applied] == [1, 2]
        assert {"items", "prices_log"} <= tables(database_dsn)
        assert "price" in columns(database_dsn, "items")

        rolled = await manager.downgrade(to=0)
        assert [r.version for r in rolled] == [2, 1]
        assert not {"items", "prices_log"} & tables(database_dsn)
        assert tracking(database_dsn) == []

        assert [r.version for r in await manager.upgrade()] == [1, 2]
        assert await manager.upgrade() == []


async def test_up_parses_each_section_once_for_both_the_validator_and_the_runner(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = load_directory(basic(tmp_path))
    sections = sorted(s.sql for f in files for s in (f.up, f.down) if s is not None)
    parsed: list[str] = []
    real_parse_sql = parser.parse_sql

    def counting_parse_sql(sql: str) -> Any:  # a spy: the real parser does the work
        parsed.append(sql)
        return real_parse_sql(sql)

    monkeypatch.setattr(parser, "parse_sql", counting_parse_sql)
    async with MigrationManager(database_url, tmp_path) as manager:
        assert [r.version for r in await manager.upgrade()] == [1, 2]
    assert sorted(parsed) == sections


async def test_every_applied_migration_is_recorded(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        files = manager.files()
    rows = tracking(database_dsn)
    assert [r[0] for r in rows] == [1, 2]
    version, name, checksum, down_sql, applied_by, ms, success, allowed = rows[0]
    assert (name, checksum, success, allowed) == ("0001_items.sql", files[0].checksum, True, [])
    assert "DROP TABLE items" in str(down_sql)
    assert applied_by == "postgres" and isinstance(ms, int)


async def test_upgrade_to_a_version_and_downgrade_by_steps(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        assert [r.version for r in await manager.upgrade(to=1)] == [1]
        assert "price" not in columns(database_dsn, "items")
        await manager.upgrade()
        assert [r.version for r in await manager.downgrade(steps=1)] == [2]
        status = await manager.status()
        assert [(e.version, e.state) for e in status.entries] == [
            (1, State.APPLIED),
            (2, State.PENDING),
        ]


async def test_dry_run_changes_nothing(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        planned = await manager.upgrade(dry_run=True)
        assert [(r.version, r.attempts) for r in planned] == [(1, 0), (2, 0)]
    assert tables(database_dsn) == set()  # not even the tracking table


async def test_tampered_file_is_detected_before_anything_runs(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade(to=1)
        old = manager.files()[0].checksum
        path = tmp_path / "0001_items.sql"
        path.write_text(path.read_text().replace("name text", "name text NOT NULL"))
        with pytest.raises(ChecksumMismatchError) as info:
            await manager.upgrade()
        assert "0001_items.sql" in str(info.value) and old in str(info.value)
        assert info.value.actual in str(info.value)
        assert "price" not in columns(database_dsn, "items")  # 0002 did not run
        status = await manager.status()
        assert status.entries[0].state is State.CHANGED

        assert await manager.repair() == [1]
        assert [r.version for r in await manager.upgrade()] == [2]


async def test_line_ending_changes_are_not_tampering(database_url: str, tmp_path: Path) -> None:
    basic(tmp_path)
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade(to=1)
        path = tmp_path / "0001_items.sql"
        path.write_bytes(path.read_text().replace("\n", "   \r\n").encode())
        assert [r.version for r in await manager.upgrade()] == [2]


async def test_missing_file_is_detected_and_rollback_still_works(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        (tmp_path / "0002_item_price.sql").unlink()
        status = await manager.status()
        assert status.entries[1].state is State.MISSING
        with pytest.raises(MissingMigrationError, match="0002_item_price.sql"):
            await manager.upgrade()
        # The down SQL is stored, so the file is not needed to roll back.
        await manager.downgrade()
        assert "prices_log" not in tables(database_dsn)


async def test_failed_migration_leaves_nothing_behind(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id bigint);", "DROP TABLE ok;")
    write(
        tmp_path,
        "0002_broken.sql",
        """
        CREATE TABLE half (id bigint);
        INSERT INTO ok (id) VALUES (1);

        INSERT INTO no_such_table VALUES (1);
        """,
        "DROP TABLE half;",
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        with pytest.raises(MigrationFailedError) as info:
            await manager.upgrade()
    err = info.value
    assert (Path(err.path).name, err.line) == ("0002_broken.sql", 5)
    assert "no_such_table" in str(err) and "INSERT INTO no_such_table" in err.statement
    assert "half" not in tables(database_dsn)
    with psycopg.connect(database_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ok").fetchone() == (0,)
    assert [r[0] for r in tracking(database_dsn)] == [1]


async def test_malformed_file_stops_everything_before_any_sql(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id bigint);", "DROP TABLE ok;")
    (tmp_path / "0002_bad.sql").write_text("-- migrate:up\nSELECT 1;\nSELEC 2;\n")
    async with MigrationManager(database_url, tmp_path) as manager:
        with pytest.raises(MigrationFileError) as info:
            await manager.upgrade()
    assert Path(info.value.path).name == "0002_bad.sql" and info.value.line == 3
    assert tables(database_dsn) == set()


async def test_rollback_without_down_section_is_refused(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_one_way.sql", "CREATE TABLE one_way (id bigint);")
    async with MigrationManager(database_url, tmp_path) as manager:
        await manager.upgrade()
        with pytest.raises(IrreversibleMigrationError, match="0001_one_way.sql"):
            await manager.downgrade()


async def test_baseline_records_without_running(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    async with MigrationManager(database_url, tmp_path) as manager:
        assert await manager.baseline(1) == [1]
        assert "items" not in tables(database_dsn)
        status = await manager.status()
        assert [e.state for e in status.entries] == [State.APPLIED, State.PENDING]


async def test_validator_errors_stop_the_upgrade_unless_allowed(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        write(
            tmp_path, "0003_drop_log.sql", "DROP TABLE prices_log;", "CREATE TABLE prices_log ();"
        )
        with pytest.raises(DangerousMigrationError, match="dropping-table"):
            await manager.upgrade()
        assert "prices_log" in tables(database_dsn)
        await manager.upgrade(allow_dangerous=True)
    allowed = tracking(database_dsn)[2][7]
    assert allowed[0]["rule"] == "dropping-table"
    assert allowed[0]["reason"] == "applied with --allow-dangerous"


async def test_allow_comment_reasons_are_recorded(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade()
        write(
            tmp_path,
            "0003_drop_log.sql",
            "-- pa:allow dropping-table the log moved to the archive database\n"
            "DROP TABLE prices_log;",
            "CREATE TABLE prices_log ();",
        )
        await manager.upgrade()
    allowed = tracking(database_dsn)[2][7]
    assert [(a["rule"], a["reason"]) for a in allowed] == [
        ("dropping-table", "the log moved to the archive database")
    ]


async def test_tracking_table_in_its_own_schema(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path), schema="Ops Meta") as manager:
        await manager.upgrade()
    with psycopg.connect(database_dsn) as conn:
        count = conn.execute('SELECT count(*) FROM "Ops Meta".schema_migrations').fetchone()
    assert count == (2,)


async def test_session_state_of_one_migration_does_not_reach_the_next(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    # Migrations of one run share a connection, reset between them.
    write(
        tmp_path,
        "0001_session_state.sql",
        """
        SET search_path = pg_catalog;
        CREATE TEMP TABLE scratch (x int);
        """,
        "SELECT 1;",
    )
    write(
        tmp_path,
        "0002_after.sql",
        """
        CREATE TEMP TABLE scratch (x int);
        CREATE TABLE landed_in_public (id bigint PRIMARY KEY);
        """,
        "DROP TABLE landed_in_public;",
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        assert [r.version for r in await manager.upgrade()] == [1, 2]
    assert "landed_in_public" in tables(database_dsn)
