"""``pa-db migrate import``, ``adopt`` and the notices ``up`` prints, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations import ForeignHistoryError
from tests.migrations import foreign_tools
from tests.migrations.helpers import write

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def golang(directory: Path) -> Path:
    directory.mkdir()
    (directory / "20240101120000_users.up.sql").write_text("CREATE TABLE users (id bigint);\n")
    (directory / "20240101120000_users.down.sql").write_text("DROP TABLE users;\n")
    (directory / "20240102120000_idx.up.sql").write_text(
        "CREATE INDEX CONCURRENTLY users_id_idx ON users (id);\n"
    )
    (directory / "notes.txt").write_text("not a migration\n")
    return directory


def test_import_writes_notes_and_lists_what_it_left_out(tmp_path: Path) -> None:
    source, target = golang(tmp_path / "src"), tmp_path / "pa"
    code, out, err = invoke("import", "--from", "golang-migrate", str(source), "-d", str(target))
    assert code == 0
    assert "2 written, 0 already there" in out
    assert "wrote 20240101120000_users.sql" in out
    assert "note 20240102120000_idx.sql: runs outside a transaction: CREATE INDEX" in out
    assert "not imported (1):" in err and "notes.txt: not a golang-migrate name" in err
    code, out, _ = invoke("import", "--from", "golang-migrate", str(source), "-d", str(target))
    assert code == 0 and "0 written, 2 already there" in out


def test_import_refuses_an_unknown_tool_as_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("import", "--from", "liquibase", str(tmp_path))
    assert code == 2 and "must be one of" in err and "golang-migrate" in err


def test_adopt_then_up_through_the_cli(
    tmp_path: Path, database_url: str, database_dsn: str
) -> None:
    source, target = golang(tmp_path / "src"), tmp_path / "pa"
    invoke("import", "--from", "golang-migrate", str(source), "-d", str(target))
    foreign_tools.golang_migrate(database_dsn, 20240101120000)
    with psycopg.connect(database_dsn) as conn:
        conn.execute("CREATE TABLE users (id bigint)")  # what golang-migrate had applied
    common = ["--database-url", database_url, "-d", str(target)]

    # pa-db's entry point prints this error and exits 1; in-process it is raised.
    with pytest.raises(ForeignHistoryError, match="adopt --from golang-migrate"):
        invoke("up", *common)

    code, out, _ = invoke("adopt", "--from", "golang-migrate", *common)
    assert code == 0, out
    assert "1 migration(s) recorded as applied: 20240101120000" in out
    assert "renamed to public.schema_migrations_golang_migrate" in out
    code, out, _ = invoke("up", *common)
    assert code == 0 and "20240102120000" in out


def test_up_prints_the_notices_of_the_migrations_it_applied(
    tmp_path: Path, database_url: str
) -> None:
    long = "a_column_name_that_is_much_longer_than_the_sixty_three_bytes_postgres_keeps"
    write(tmp_path, "0001_t.sql", f"CREATE TABLE t ({long} bigint);", "DROP TABLE t;")
    code, _, err = invoke("up", "--database-url", database_url, "-d", str(tmp_path))
    assert code == 0
    assert f'warning 0001_t.sql: NOTICE: identifier "{long}" will be truncated' in err


def test_status_json_shows_the_notices_kept_with_each_migration(
    tmp_path: Path, database_url: str
) -> None:
    long = "a_column_name_that_is_much_longer_than_the_sixty_three_bytes_postgres_keeps"
    write(tmp_path, "0001_t.sql", f"CREATE TABLE t ({long} bigint);", "DROP TABLE t;")
    common = ["--database-url", database_url, "-d", str(tmp_path)]
    invoke("up", *common)
    code, out, _ = invoke("status", "--json", *common)
    (row,) = json.loads(out)
    assert code == 0 and row["notices"] == [
        f'NOTICE: identifier "{long}" will be truncated to "{long[:63]}"'
    ]
