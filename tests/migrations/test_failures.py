"""Where a failed section's error is: pure arithmetic on the section text."""

from __future__ import annotations

from types import SimpleNamespace

from personal_assistant.database.migrations.failures import (
    error_position,
    line_in_statement,
    locate,
    reason,
    reproducible,
)
from personal_assistant.database.migrations.sql_parse import parse_statements

SECTION = "\nCREATE TABLE a (id int);\n\nINSERT INTO a\nVALUES ('x');  SELECT 1;\n"


def test_a_position_maps_to_the_file_line_and_the_statement_holding_it() -> None:
    statements = parse_statements(SECTION, first_line=10)
    offset = SECTION.index("'x'")
    where = locate(SECTION, 10, statements, offset)
    assert where.line == 14
    assert where.statement == "INSERT INTO a\nVALUES ('x')"
    later = locate(SECTION, 10, statements, SECTION.index("SELECT 1"))
    assert (later.line, later.statement) == (14, "SELECT 1")


def test_a_position_is_one_based_characters_and_may_be_absent() -> None:
    assert error_position(SimpleNamespace(position="1")) == 0
    assert error_position(SimpleNamespace(position=None)) is None
    assert error_position(SimpleNamespace()) is None


def test_the_line_inside_a_statement_run_on_its_own() -> None:
    (stmt,) = parse_statements("SELECT 1,\n  2,\n  nope", first_line=7)
    assert line_in_statement(stmt, SimpleNamespace(position=str(stmt.sql.index("nope") + 1))) == 9
    assert line_in_statement(stmt, SimpleNamespace()) == 7


def test_timing_and_connection_errors_are_not_run_again_to_be_located() -> None:
    assert reproducible(SimpleNamespace(sqlstate="23505"))
    for sqlstate in ("55P03", "57014", "40P01", "40001", "08006", "57P01"):
        assert not reproducible(SimpleNamespace(sqlstate=sqlstate))
    assert not reproducible(ConnectionResetError())


def test_the_reason_carries_sqlstate_message_and_detail() -> None:
    error = SimpleNamespace(sqlstate="23505", message="duplicate key", detail="Key (id)=(1)")
    assert reason(error) == "[23505] duplicate key (Key (id)=(1))"
    assert reason(ConnectionResetError("gone")) == "gone"
