"""Without facts, lint follows the migration history of the directory and says it guesses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from personal_assistant.cli.lint import app
from personal_assistant.database.migrations.sql_parse import parse_statements
from personal_assistant.database.migrations.validation import DatabaseFacts, lint_sql
from personal_assistant.database.migrations.validation.history import NOTE, replay

runner = CliRunner()


def facts_for(sql: str, *steps: str) -> DatabaseFacts:
    """The facts the history gives ``sql`` when it follows ``steps``."""
    parsed = [(f"{i:04d}_s.sql", parse_statements(step)) for i, step in enumerate(steps, 1)]
    return replay([*parsed, ("next.sql", parse_statements(sql))])[-1]


def rules(sql: str, *history: str) -> list[tuple[str, str]]:
    result = lint_sql(sql, facts=facts_for(sql, *history))
    return [(f.rule, f.severity.value) for f in result.findings]


CREATE = "CREATE TABLE tags (id bigint PRIMARY KEY, name varchar(10) NOT NULL, note varchar);"


def test_a_table_created_earlier_and_never_filled_is_guessed_small() -> None:
    sql = "CREATE INDEX tags_name_idx ON tags (name);"
    found = lint_sql(sql, facts=facts_for(sql, CREATE))
    (finding,) = found.findings
    assert finding.severity.value == "info"
    assert "tags is created by 0001_s.sql and no migration fills it" in finding.message
    assert "a guess from the migration history" in finding.message


def test_a_table_filled_by_insert_select_or_copy_is_judged_large() -> None:
    filled = "INSERT INTO tags (id, name) SELECT g, 'x' FROM generate_series(1, 10) g;"
    assert rules("CREATE INDEX i ON tags (name);", CREATE, filled) == [
        ("create-index-non-concurrently", "error")
    ]
    copied = "COPY tags FROM '/tmp/tags.csv';"
    assert rules("CREATE INDEX i ON tags (name);", CREATE, copied)[0][1] == "error"


def test_rows_inserted_by_values_are_counted_and_truncate_empties() -> None:
    values = "INSERT INTO tags VALUES (1, 'a'), (2, 'b');"
    after_insert = facts_for("SELECT * FROM tags;", CREATE, values).get("tags")
    after_truncate = facts_for("SELECT * FROM public.tags;", CREATE, values, "TRUNCATE tags;")
    assert after_insert is not None and after_insert.rows == 2
    assert after_truncate.get("public.tags") == after_truncate.get("tags")
    emptied = after_truncate.get("tags")
    assert emptied is not None and emptied.rows == 0


def test_widening_a_varchar_or_making_it_text_is_known_to_be_free() -> None:
    assert rules("ALTER TABLE tags ALTER COLUMN name TYPE varchar(20);", CREATE) == []
    assert rules("ALTER TABLE tags ALTER COLUMN note TYPE text;", CREATE) == []
    # Narrowing still rewrites (info: the table is guessed small).
    assert rules("ALTER TABLE tags ALTER COLUMN name TYPE varchar(5);", CREATE) == [
        ("changing-column-type", "info")
    ]


def test_set_not_null_on_a_column_already_not_null_is_nothing() -> None:
    assert rules("ALTER TABLE tags ALTER COLUMN name SET NOT NULL;", CREATE) == []
    later = "ALTER TABLE tags ALTER COLUMN note SET NOT NULL;"
    assert rules("ALTER TABLE tags ALTER COLUMN note SET NOT NULL;", CREATE, later) == []


def test_renames_type_changes_and_drops_are_followed() -> None:
    history = (
        CREATE,
        "ALTER TABLE tags RENAME TO labels;",
        "ALTER TABLE labels ALTER COLUMN name TYPE varchar(30);",
        "ALTER TABLE labels RENAME COLUMN name TO title;",
    )
    assert rules("ALTER TABLE labels ALTER COLUMN title TYPE varchar(40);", *history) == []
    dropped = (*history, "DROP TABLE labels;")
    assert rules("CREATE INDEX i ON labels (title);", *dropped)[0][1] == "error"


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(sql).lstrip())


def test_lint_of_a_directory_guesses_from_it_and_says_so(tmp_path: Path) -> None:
    write(tmp_path, "0001_tags.sql", f"-- migrate:up\n{CREATE}\n")
    write(tmp_path, "0002_index.sql", "-- migrate:up\nCREATE INDEX i ON tags (name);\n")
    result = runner.invoke(app, [str(tmp_path / "0002_index.sql"), "--format", "json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["notes"] == [NOTE]
    assert data["files"][0]["findings"][0]["severity"] == "info"

    strict = runner.invoke(app, [str(tmp_path / "0002_index.sql"), "--no-history"])
    assert strict.exit_code == 1 and "note:" not in strict.stdout


def test_no_note_when_the_history_says_nothing_about_the_tables_used(tmp_path: Path) -> None:
    write(tmp_path, "0001_tags.sql", f"-- migrate:up\n{CREATE}\n")
    write(tmp_path, "0002_users.sql", "-- migrate:up\nCREATE INDEX i ON users (name);\n")
    result = runner.invoke(app, [str(tmp_path / "0002_users.sql")])
    assert result.exit_code == 1 and "note:" not in result.stdout
