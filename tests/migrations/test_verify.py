"""``verify`` proves rollbacks in a scratch database and never touches the target."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.migrations.verify import SCRATCH_PREFIX
from tests.fixtures.postgres import ServerInfo
from tests.migrations.helpers import basic, write


def scratch_databases(pg_server: ServerInfo) -> list[str]:
    with psycopg.connect(pg_server.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"{SCRATCH_PREFIX}%"]
        ).fetchall()
    return [r[0] for r in rows]


def public_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [r[0] for r in rows.fetchall()]


async def test_good_migrations_verify_and_the_target_is_untouched(
    database_url: str, database_dsn: str, pg_server: ServerInfo, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        report = await manager.verify()
    assert report.ok, report
    assert [(r.version, r.outcome) for r in report.results] == [(1, "ok"), (2, "ok")]
    assert public_tables(database_dsn) == []
    assert scratch_databases(pg_server) == []


async def test_a_down_that_forgets_an_index_is_caught(
    database_url: str, pg_server: ServerInfo, tmp_path: Path
) -> None:
    basic(tmp_path)
    write(
        tmp_path,
        "0003_name_index.sql",
        "CREATE INDEX items_name_idx ON items (name);\nCREATE TABLE audit (id bigint);",
        "DROP TABLE audit;",
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        report = await manager.verify()
    assert not report.ok
    bad = report.results[-1]
    assert (bad.version, bad.outcome) == (3, "not-restored")
    assert [(d.category, d.key, d.before) for d in bad.differences] == [
        ("index", "public.items_name_idx", None)
    ]
    assert scratch_databases(pg_server) == []


async def test_a_down_that_changes_a_column_type_is_caught(
    database_url: str, tmp_path: Path
) -> None:
    write(tmp_path, "0001_t.sql", "CREATE TABLE t (a int);", "DROP TABLE t;")
    write(
        tmp_path,
        "0002_widen.sql",
        "ALTER TABLE t ALTER COLUMN a TYPE bigint;",
        "ALTER TABLE t ALTER COLUMN a TYPE numeric;",
    )
    async with MigrationManager(database_url, tmp_path) as manager:
        report = await manager.verify()
    (difference,) = report.results[1].differences
    assert str(difference) == "column public.t.a changed: integer -> numeric"


async def test_missing_down_section_is_reported(database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_t.sql", "CREATE TABLE t (a bigint);")
    async with MigrationManager(database_url, tmp_path) as manager:
        report = await manager.verify()
    assert [(r.version, r.outcome) for r in report.results] == [(1, "no-down")]
    assert not report.ok


async def test_the_shipped_migrations_round_trip(database_url: str) -> None:
    async with MigrationManager(database_url) as manager:
        report = await manager.verify()
    assert report.ok, [str(d) for r in report.results for d in r.differences]
    assert [r.version for r in report.results] == [1, 2]


def two_broken_downs(directory: Path) -> Path:
    """Five migrations; the downs of 2 and 4 fail (they drop what does not exist)."""
    for v in range(1, 6):
        down = f"DROP TABLE t{v}_typo;" if v in (2, 4) else f"DROP TABLE t{v};"
        write(directory, f"{v:04d}_t{v}.sql", f"CREATE TABLE t{v} (id bigint);", down)
    return directory


async def test_verify_stops_at_the_first_broken_down_by_default(
    database_url: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, two_broken_downs(tmp_path)) as manager:
        report = await manager.verify()
    assert [(r.version, r.outcome) for r in report.results] == [(1, "ok"), (2, "failed")]


async def test_keep_going_checks_every_file_and_reports_both_broken_downs(
    database_url: str, pg_server: ServerInfo, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, two_broken_downs(tmp_path)) as manager:
        report = await manager.verify(keep_going=True)
    assert [(r.version, r.outcome) for r in report.results] == [
        (1, "ok"), (2, "failed"), (3, "ok"), (4, "failed"), (5, "ok"),
    ]  # fmt: skip
    assert "t2_typo" in report.results[1].error and "t4_typo" in report.results[3].error
    assert not report.ok
    assert scratch_databases(pg_server) == []


def test_verify_keep_going_on_the_command_line_exits_1_listing_both(
    database_url: str, tmp_path: Path
) -> None:
    two_broken_downs(tmp_path)
    args = ["verify", "--keep-going", "--database-url", database_url, "-d", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "0002_t2.sql" in result.stdout and "0004_t4.sql" in result.stdout
    assert result.stdout.count("failed") >= 2
