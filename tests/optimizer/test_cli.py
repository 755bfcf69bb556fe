"""``pa-db optimize``: JSON output, the Rich report and ``--apply`` with confirmation."""

from __future__ import annotations

import json

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from personal_assistant.cli.optimize import optimize

PLANT = """
    CREATE TABLE parent (id int PRIMARY KEY);
    INSERT INTO parent SELECT generate_series(1, 10);
    CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
    INSERT INTO child SELECT g, g % 10 + 1 FROM generate_series(1, 3000) g;
    SELECT pg_stat_force_next_flush();
"""


@pytest.fixture
def cli(database_dsn: str, require_extensions: None) -> typer.Typer:
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute(PLANT)
        conn.execute("ANALYZE")  # after the flush, so no insert counts land after it
    app = typer.Typer()
    app.command()(optimize)
    return app


def test_json_output_lists_recommendations(cli: typer.Typer, database_url: str) -> None:
    result = CliRunner().invoke(cli, ["--json", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"generated_at", "recommendations"}
    assert [r["kind"] for r in doc["recommendations"]] == ["missing_fk_index"]
    assert doc["recommendations"][0]["sql"].startswith("CREATE INDEX CONCURRENTLY")


def test_the_report_is_readable_text(cli: typer.Typer, database_url: str) -> None:
    result = CliRunner().invoke(cli, ["--database-url", database_url])
    assert result.exit_code == 0, result.output
    # Rich folds long cells at the runner's 80 columns: look for unbreakable parts.
    assert "missing_fk" in result.stdout and "public.child" in result.stdout


def test_apply_asks_and_declining_changes_nothing(
    cli: typer.Typer, database_url: str, database_dsn: str
) -> None:
    args = ["--apply", "missing_fk_index", "--database-url", database_url]
    declined = CliRunner().invoke(cli, args, input="n\n")
    assert declined.exit_code == 1
    assert _index_count(database_dsn) == 1
    accepted = CliRunner().invoke(cli, [*args, "--yes"])
    assert accepted.exit_code == 0, accepted.output
    assert _index_count(database_dsn) == 2


def test_unsafe_and_unknown_kinds_are_refused(cli: typer.Typer, database_url: str) -> None:
    unsafe = CliRunner().invoke(cli, ["--apply", "unused_index", "--database-url", database_url])
    assert unsafe.exit_code != 0
    assert "never applied automatically" in str(unsafe.exception)
    unknown = CliRunner().invoke(cli, ["--apply", "everything", "--database-url", database_url])
    assert unknown.exit_code == 2 and "unknown kind" in unknown.output


def _index_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'child'").fetchone()
        assert row is not None
        return int(row[0])
