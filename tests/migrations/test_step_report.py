"""``up`` and ``down`` say every step, and how a failed run left the database.

Through Typer's test runner against a real PostgreSQL: a line per migration
(version, description, time taken) in the terminal, one JSON document with
``--json``, and on failure what this run completed, which migration failed, in what
state, and what was not run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations import MigrationFailedError
from tests.migrations.helpers import basic, write

STEP_LINE = re.compile(r"^(applied|rolled back) (\S+\.sql) \(version (\d+), ([^)]*)\) in (\d+) ms$")


def invoke(directory: Path, database_url: str, *args: str) -> Result:
    common = ["--database-url", database_url, "--directory", str(directory)]
    return CliRunner().invoke(app, [*args, *common])


def step_lines(output: str) -> list[tuple[str, str, int, str]]:
    found = [STEP_LINE.match(line.strip()) for line in output.splitlines()]
    return [(m[1], m[2], int(m[3]), m[4]) for m in found if m]


def document(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def three_with_a_failing_middle(directory: Path) -> None:
    write(directory, "0001_items.sql", "CREATE TABLE items (id bigint);", "DROP TABLE items;")
    write(
        directory,
        "0002_broken.sql",
        "CREATE TABLE half (id bigint);\nINSERT INTO items VALUES (1 / 0);",
        "DROP TABLE half;",
    )
    write(directory, "0003_later.sql", "CREATE TABLE later (id bigint);", "DROP TABLE later;")


def test_up_and_down_say_each_migration_with_version_description_and_time(
    database_url: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    up = invoke(tmp_path, database_url, "up")
    assert up.exit_code == 0, up.output
    assert [s[:4] for s in step_lines(up.stdout)] == [
        ("applied", "0001_items.sql", 1, "items"),
        ("applied", "0002_item_price.sql", 2, "item price"),
    ]
    assert "2 migration(s) applied in" in up.stdout
    down = invoke(tmp_path, database_url, "down", "--to", "0")
    assert [s[:3] for s in step_lines(down.stdout)] == [
        ("rolled back", "0002_item_price.sql", 2),
        ("rolled back", "0001_items.sql", 1),
    ]


def test_json_lists_every_step_of_up_and_of_down(database_url: str, tmp_path: Path) -> None:
    basic(tmp_path)
    up = document(invoke(tmp_path, database_url, "up", "--json"))
    assert up["command"] == "up" and up["ok"] is True
    assert [(s["version"], s["description"], s["file"], s["direction"]) for s in up["steps"]] == [
        (1, "items", "0001_items.sql", "up"),
        (2, "item price", "0002_item_price.sql", "up"),
    ]
    assert all(isinstance(s["ms"], int) for s in up["steps"])
    assert document(invoke(tmp_path, database_url, "up", "--json"))["steps"] == []
    down = document(invoke(tmp_path, database_url, "down", "--steps", "2", "--json"))
    assert [(s["version"], s["direction"]) for s in down["steps"]] == [(2, "down"), (1, "down")]


def test_a_failed_run_says_what_it_completed_what_failed_how_and_what_did_not_run(
    database_url: str, tmp_path: Path
) -> None:
    three_with_a_failing_middle(tmp_path)
    result = invoke(tmp_path, database_url, "up")
    assert result.exit_code == 1 and isinstance(result.exception, MigrationFailedError)
    assert step_lines(result.stdout)[0][:3] == ("applied", "0001_items.sql", 1)
    summary = result.stderr
    assert "this run applied 1 of 3: 0001_items.sql" in summary
    assert "failed 0002_broken.sql (version 2, broken)" in summary
    assert "database state: rolled back cleanly" in summary
    assert "not run: 0003_later.sql" in summary
    assert "0002_broken.sql:3: [22012] division by zero" in str(result.exception)


def test_a_failed_run_in_json(database_url: str, tmp_path: Path) -> None:
    three_with_a_failing_middle(tmp_path)
    result = invoke(tmp_path, database_url, "up", "--json")
    assert result.exit_code == 1
    doc = document(result)
    assert doc["ok"] is False
    assert [s["file"] for s in doc["completed"]] == ["0001_items.sql"]
    assert doc["failed"]["file"] == "0002_broken.sql"
    assert doc["failed"]["state"].startswith("rolled back cleanly")
    assert "0002_broken.sql:3" in doc["failed"]["error"]
    assert [s["file"] for s in doc["not_run"]] == ["0003_later.sql"]


def test_a_no_transaction_failure_half_way_is_reported_dirty(
    database_url: str, tmp_path: Path
) -> None:
    basic(tmp_path)
    write(
        tmp_path,
        "0003_indexes.sql",
        "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);\n"
        "CREATE INDEX CONCURRENTLY items_nope_idx ON items (nope);",
        "DROP INDEX CONCURRENTLY IF EXISTS items_nope_idx;\n"
        "DROP INDEX CONCURRENTLY IF EXISTS items_name_idx;",
        no_tx=True,
    )
    doc = document(invoke(tmp_path, database_url, "up", "--json"))
    assert [s["version"] for s in doc["completed"]] == [1, 2]
    assert doc["failed"]["version"] == 3
    assert doc["failed"]["state"].startswith("dirty, needs repair")
