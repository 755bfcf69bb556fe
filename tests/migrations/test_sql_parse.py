"""The one SQL parser: statements, file lines, pglast nodes and pa:allow comments."""

from __future__ import annotations

import pytest
from pglast import ast

from personal_assistant.database.migrations.errors import MigrationParseError
from personal_assistant.database.migrations.sql_parse import SqlText, parse_statements


def test_statements_get_their_first_line_after_comments_and_unicode() -> None:
    sql = "-- héllo\nCREATE TABLE t (id int);\n\n/* ü */ SELECT 'é;é';\nSELECT\n  1"
    assert [s.line for s in parse_statements(sql)] == [2, 4, 5]


def test_statements_keep_their_sql_as_written_and_their_node() -> None:
    first, second = parse_statements("CREATE TABLE t (id int);\n  SELECT 'a;b'  ;")
    assert (first.sql, second.sql) == ("CREATE TABLE t (id int)", "SELECT 'a;b'")
    assert isinstance(first.node, ast.CreateStmt) and isinstance(second.node, ast.SelectStmt)


def test_first_line_offsets_statement_lines() -> None:
    assert [s.line for s in parse_statements("SELECT 1;\nSELECT 2", first_line=10)] == [10, 11]


def test_allow_comment_attaches_to_the_next_statement_only() -> None:
    sql = "SELECT 1;\n-- pa:allow truncating-table scratch data\nTRUNCATE t;\nSELECT 2;"
    first, second, third = parse_statements(sql)
    assert first.allows == () and third.allows == ()
    assert [(a.rule, a.reason, a.line) for a in second.allows] == [
        ("truncating-table", "scratch data", 2)
    ]


def test_allow_comment_may_name_several_rules() -> None:
    (stmt,) = parse_statements("-- pa:allow renaming-table,dropping-table ok\nDROP TABLE t;")
    assert [a.rule for a in stmt.allows] == ["renaming-table", "dropping-table"]


def test_allow_text_inside_a_string_literal_is_not_a_comment() -> None:
    (stmt,) = parse_statements("SELECT '-- pa:allow truncating-table nope';")
    assert stmt.allows == ()


def test_a_section_takes_only_the_allows_inside_it() -> None:
    text = "-- pa:allow truncating-table header\n-- x\nTRUNCATE t;"
    source = SqlText(text, "0001_x.sql")
    (stmt,) = source.statements(text.index("-- x"))
    assert stmt.allows == () and stmt.line == 3


def test_parse_error_names_file_and_line() -> None:
    with pytest.raises(MigrationParseError) as info:
        parse_statements("SELECT 1;\n\nSELEC 2;", path="0001_x.sql")
    assert (info.value.path, info.value.line) == ("0001_x.sql", 3)


def test_parse_error_in_a_section_names_its_file_line() -> None:
    text = "-- header\nSELECT 1;\nSELEC 2;\n"
    with pytest.raises(MigrationParseError) as info:
        SqlText(text, "0001_x.sql").statements(text.index("SELECT"))
    assert info.value.line == 3
