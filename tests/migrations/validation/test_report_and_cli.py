"""Text and JSON output, and the exit codes of ``pa-db migrate lint``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from personal_assistant.cli.lint import app
from personal_assistant.database.migrations.validation import lint_sql
from personal_assistant.database.migrations.validation.report import render_json, render_text

runner = CliRunner()
DANGEROUS = "-- migrate:up\nCREATE INDEX i ON users (a);\n-- migrate:down\nDROP INDEX i;\n"


def test_text_report_shows_location_rule_and_safe_alternative() -> None:
    text = render_text([lint_sql("CREATE INDEX i ON t (c);", path="0001_a.sql")])
    assert "0001_a.sql:1: error [create-index-non-concurrently]" in text
    assert "safe alternative: CREATE INDEX CONCURRENTLY i ON t (c)" in text


def test_json_report_has_the_documented_shape() -> None:
    data = json.loads(render_json([lint_sql("TRUNCATE t;", path="x.sql")]))
    (file,) = data["files"]
    assert file["path"] == "x.sql"
    assert set(file["findings"][0]) == {"rule", "severity", "line", "message", "hint"}
    assert file["findings"][0]["severity"] == "error"


def test_cli_exits_1_on_errors_and_reports_down_section_free(tmp_path: Path) -> None:
    (tmp_path / "0001_index.sql").write_text(DANGEROUS)
    result = runner.invoke(app, [str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    (file,) = json.loads(result.stdout)["files"]
    assert [f["line"] for f in file["findings"]] == [2]


def test_cli_exits_0_when_only_warnings(tmp_path: Path) -> None:
    plain = tmp_path / "schema.sql"
    plain.write_text("CREATE TABLE t (id bigint PRIMARY KEY, j json);\n")
    result = runner.invoke(app, [str(plain)])
    assert result.exit_code == 0, result.stdout
    assert "prefer-jsonb" in result.stdout


def test_cli_exits_2_on_parse_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT 1;\nSELEC 2;\n")
    assert runner.invoke(app, [str(bad)]).exit_code == 2


def test_cli_exits_2_on_missing_path_and_bad_format(tmp_path: Path) -> None:
    assert runner.invoke(app, [str(tmp_path / "nope.sql")]).exit_code == 2
    (tmp_path / "ok.sql").write_text("SELECT 1;")
    assert runner.invoke(app, [str(tmp_path / "ok.sql"), "--format", "xml"]).exit_code == 2
