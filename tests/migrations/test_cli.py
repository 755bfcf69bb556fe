"""``pa-db migrate`` commands, run in-process through Typer's test runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from personal_assistant.cli.migrate import app
from tests.migrations.helpers import basic

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_status_json_lists_pending_then_applied(database_url: str, tmp_path: Path) -> None:
    basic(tmp_path)
    common = ["--database-url", database_url, "--directory", str(tmp_path)]
    code, out = invoke("status", "--json", *common)
    assert code == 0
    assert [(r["version"], r["state"]) for r in json.loads(out)] == [
        (1, "pending"),
        (2, "pending"),
    ]
    code, out = invoke("up", *common)
    assert code == 0 and "applied 0002_item_price.sql" in out
    code, out = invoke("status", *common)
    assert code == 0 and "applied" in out and "item price" in out


def test_up_dry_run_prints_the_sql_and_changes_nothing(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    code, out = invoke("up", "--dry-run", "--database-url", database_url, "-d", str(tmp_path))
    assert code == 0
    assert "CREATE TABLE items" in out and "ALTER TABLE items ADD COLUMN price" in out
    with psycopg.connect(database_dsn) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)


def test_down_verify_and_repair_commands(database_url: str, tmp_path: Path) -> None:
    basic(tmp_path)
    common = ["--database-url", database_url, "--directory", str(tmp_path)]
    invoke("up", *common)
    code, out = invoke("down", "--steps", "2", *common)
    assert code == 0 and "rolled back 0001_items.sql" in out
    code, out = invoke("verify", *common)
    assert code == 0 and "ok" in out
    code, out = invoke("repair", *common)
    assert code == 0 and "nothing to repair" in out


def test_new_creates_the_next_numbered_file(tmp_path: Path) -> None:
    basic(tmp_path)
    code, out = invoke("new", "add orders", "--directory", str(tmp_path))
    assert code == 0
    assert (tmp_path / "0003_add_orders.sql").exists()


def test_lint_is_mounted(tmp_path: Path) -> None:
    basic(tmp_path)
    code, out = invoke("lint", str(tmp_path))
    assert code == 0, out


def test_an_invalid_environment_variable_stops_the_cli_naming_it(tmp_path: Path) -> None:
    # Through the real entry point (exit codes are mapped in cli/main.py), in a
    # subprocess so the environment is exactly what a user would have.
    env = {**os.environ, "DATABASE_POOL_SIZE": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "personal_assistant.cli.main", "migrate", "status",
         "--database-url", "postgresql://nobody@127.0.0.1:1/none"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "DATABASE_POOL_SIZE='0' is invalid" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
