"""Statement splitting, line numbers, sections and pa:allow comments."""

from __future__ import annotations

import pytest

from personal_assistant.database.migrations.validation import (
    MigrationParseError,
    parse_statements,
    referenced_relations,
    up_section,
)


def test_statements_get_their_first_line_after_comments_and_unicode() -> None:
    sql = "-- héllo\nCREATE TABLE t (id int);\n\n/* ü */ SELECT 'é;é';\nSELECT\n  1"
    assert [s.line for s in parse_statements(sql)] == [2, 4, 5]


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


def test_up_section_excludes_down_and_keeps_file_lines() -> None:
    text = "-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n"
    section = up_section(text)
    assert "DROP" not in section.sql and section.in_transaction
    assert [s.line for s in parse_statements(section.sql, first_line=section.first_line)] == [2]


def test_plain_file_is_all_up_but_no_transaction_marker_counts() -> None:
    section = up_section("-- migrate:no-transaction\nVACUUM t;\n")
    assert not section.in_transaction and "VACUUM" in section.sql


def test_parse_error_names_file_and_line() -> None:
    with pytest.raises(MigrationParseError) as info:
        parse_statements("SELECT 1;\n\nSELEC 2;", path="0001_x.sql")
    assert (info.value.path, info.value.line) == ("0001_x.sql", 3)


def test_referenced_relations_include_dropped_indexes_and_schemas() -> None:
    stmts = parse_statements("DROP INDEX app.ix; CREATE INDEX j ON users (a); TRUNCATE s.t;")
    assert referenced_relations(stmts) == {"app.ix", "users", "s.t"}
