"""Every step of ``up --to`` and ``down`` is checked before the first one runs.

The database tests compare ``pg_dump --schema-only`` and the tracking rows before
and after a refused command: a refused command leaves the database byte for byte as
it was. The first tests are pure (:mod:`.preflight` reads files and rows only).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    IrreversibleMigrationError,
    MigrationFileError,
    MigrationManager,
    PreflightError,
)
from personal_assistant.database.migrations.files import MigrationFile, parse_migration
from personal_assistant.database.migrations.plan import AppliedMigration, MigrationStatus
from personal_assistant.database.migrations.preflight import downgrade_plan, upgrade_plan
from tests.fixtures.postgres import find_pg_bin
from tests.migrations.helpers import write


def migration(version: int, down: str | None = "SELECT 1;") -> tuple[Path, str]:
    path = Path(f"{version:04d}_m{version}.sql")
    text = f"-- migrate:up\nCREATE TABLE m{version} (id bigint);\n"
    if down is not None:
        text += f"-- migrate:down\n{down}\n"
    return path, text


def applied(
    version: int, down: str | None = "SELECT 1;", *, success: bool = True
) -> tuple[MigrationFile, AppliedMigration]:
    """A file and its tracking row; the row stores ``down`` (the file's own is valid)."""
    path, text = migration(version, None if down is None else "SELECT 1;")
    file = parse_migration(text, path)
    row = AppliedMigration(
        version, file.description, file.file_name, file.checksum, down, 4, True, success
    )
    return file, row


def status_of(*pairs: tuple[MigrationFile, AppliedMigration | None]) -> MigrationStatus:
    return MigrationStatus.build([f for f, _ in pairs], [r for _, r in pairs if r is not None])


# -- pure ----------------------------------------------------------------------------


def test_every_rollback_without_a_down_is_listed_and_none_is_planned() -> None:
    status = status_of(applied(1), applied(2, None), applied(3), applied(4, None), applied(5))
    with pytest.raises(PreflightError) as info:
        downgrade_plan(status, to=0)
    problems = info.value.problems
    assert [type(p) for p in problems] == [IrreversibleMigrationError] * 2
    assert [p.version for p in problems] == [4, 2]  # type: ignore[attr-defined]
    assert "0002_m2.sql" in str(info.value) and "0004_m4.sql" in str(info.value)


def test_a_single_problem_is_raised_as_itself() -> None:
    status = status_of(applied(1, None), applied(2))
    with pytest.raises(IrreversibleMigrationError, match="0001_m1.sql"):
        downgrade_plan(status, to=0)
    assert [r.row.version for r in downgrade_plan(status, steps=1)] == [2]


def test_a_stored_down_that_does_not_parse_or_controls_the_transaction_is_refused() -> None:
    status = status_of(applied(1, "COMMIT;"), applied(2, "DROP TABL m2;"), applied(3))
    with pytest.raises(PreflightError) as info:
        downgrade_plan(status, to=0)
    assert all(isinstance(p, MigrationFileError) for p in info.value.problems)
    assert "0002_m2.sql (stored down section):4" in str(info.value)
    assert "0001_m1.sql (stored down section):4: transaction control" in str(info.value)


def test_a_failed_no_transaction_record_and_an_edited_file_both_block_up() -> None:
    _, row = applied(1)
    edited = parse_migration("-- migrate:up\nCREATE TABLE m1 (id int);\n", Path("0001_m1.sql"))
    pending = parse_migration(*reversed(migration(3)))
    status = status_of((edited, row), applied(2, success=False), (pending, None))
    with pytest.raises(PreflightError) as info:
        upgrade_plan(status, to=3)
    assert {type(p) for p in info.value.problems} == {DirtyDatabaseError, ChecksumMismatchError}


# -- against PostgreSQL --------------------------------------------------------------


def schema_dump(dsn: str) -> str:
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    done = subprocess.run(
        [str(bin_dir / "pg_dump"), "--schema-only", "--no-owner", dsn],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    # pg_dump 15.14+ brackets its output with \restrict/\unrestrict and a random key.
    lines = done.stdout.splitlines()
    return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))


def tracking_rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()


def snapshot(dsn: str) -> tuple[str, list[tuple[object, ...]]]:
    return schema_dump(dsn), tracking_rows(dsn)


def history(directory: Path, without_down: tuple[int, ...] = ()) -> Path:
    for v in range(1, 6):
        down = None if v in without_down else f"DROP TABLE t{v};"
        write(directory, f"{v:04d}_t{v}.sql", f"CREATE TABLE t{v} (id bigint);", down)
    return directory


async def test_down_to_zero_stopped_by_one_irreversible_migration_touches_nothing(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, history(tmp_path, without_down=(2,))) as manager:
        await manager.upgrade()
        before = snapshot(database_dsn)
        with pytest.raises(IrreversibleMigrationError, match="0002_t2.sql"):
            await manager.downgrade(to=0)
    assert snapshot(database_dsn) == before


async def test_down_lists_every_blocking_file_and_touches_nothing(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, history(tmp_path, without_down=(2,))) as manager:
        await manager.upgrade()
        with psycopg.connect(database_dsn) as conn:
            conn.execute("UPDATE schema_migrations SET down_sql = 'COMMIT;' WHERE version = 4")
        before = snapshot(database_dsn)
        with pytest.raises(PreflightError) as info:
            await manager.downgrade(to=0)
    message = str(info.value)
    assert message.startswith("nothing was run: 2 planned step(s) cannot be done")
    assert "0002_t2.sql: migration 2 has no down section" in message
    assert "0004_t4.sql (stored down section)" in message and "transaction control" in message
    assert snapshot(database_dsn) == before


async def test_up_to_lists_every_blocking_file_and_applies_nothing(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, history(tmp_path)) as manager:
        await manager.upgrade(to=2)
        with psycopg.connect(database_dsn) as conn:  # a no-transaction run that died half-way
            conn.execute(
                "INSERT INTO schema_migrations (version, description, file_name, checksum,"
                " success, error) VALUES (9, 'idx', '0009_idx.sql', 'x', false, 'left an index')"
            )
        (tmp_path / "0001_t1.sql").write_text(
            "-- migrate:up\nCREATE TABLE t1 (id bigint, edited int);\n"
        )
        before = snapshot(database_dsn)
        with pytest.raises(PreflightError) as info:
            await manager.upgrade(to=4)
    assert {type(p) for p in info.value.problems} == {DirtyDatabaseError, ChecksumMismatchError}
    assert "0009_idx.sql" in str(info.value) and "0001_t1.sql" in str(info.value)
    assert snapshot(database_dsn) == before


def test_the_cli_says_nothing_was_run_and_lists_the_blocking_files(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    history(tmp_path, without_down=(2, 3))
    common = ["--database-url", database_url, "--directory", str(tmp_path)]
    assert CliRunner().invoke(app, ["up", *common]).exit_code == 0
    before = snapshot(database_dsn)
    result = CliRunner().invoke(app, ["down", "--to", "0", *common])
    assert result.exit_code == 1 and isinstance(result.exception, PreflightError)
    assert "nothing was run" in result.stderr
    assert "0002_t2.sql" in str(result.exception) and "0003_t3.sql" in str(result.exception)
    assert snapshot(database_dsn) == before
