"""``pa-db migrate up`` with nothing pending: a read, no lock, no DDL (what deploys run)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner, Result

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations.errors import LockTimeoutError
from personal_assistant.database.migrations.lock import lock_key
from personal_assistant.database.migrations.tracking import DEFAULT_TABLE
from tests.migrations.helpers import basic, write

runner = CliRunner()


def up(database_url: str, directory: Path) -> Result:
    args = ["up", "--database-url", database_url, "-d", str(directory), "--wait-timeout", "1"]
    return runner.invoke(app, args)


def holding_the_migration_lock(dsn: str) -> psycopg.Connection:
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [lock_key("public", DEFAULT_TABLE)])
    return holder


def test_nothing_pending_answers_without_waiting_for_the_migration_lock(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    assert up(database_url, tmp_path).exit_code == 0
    with holding_the_migration_lock(database_dsn):
        result = up(database_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output


def test_a_pending_migration_still_waits_for_the_migration_lock(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    assert up(database_url, tmp_path).exit_code == 0
    write(tmp_path, "0003_more.sql", "CREATE TABLE more (id bigint);", "DROP TABLE more;")
    with holding_the_migration_lock(database_dsn):
        result = up(database_url, tmp_path)
    assert isinstance(result.exception, LockTimeoutError)
