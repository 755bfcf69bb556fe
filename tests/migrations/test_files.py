"""Parsing migration files: sections, statements, lines, checksums, rejections."""

from __future__ import annotations

from pathlib import Path

import pytest

from personal_assistant.database.migrations.errors import MigrationFileError, MigrationParseError
from personal_assistant.database.migrations.files import (
    DEFAULT_DIRECTORY,
    MigrationFile,
    checksum,
    create_file,
    load_directory,
    parse_migration,
    up_section,
)
from personal_assistant.database.migrations.validation import lint_section, lint_text
from tests.migrations.helpers import write

GOOD = """\
-- a comment
-- migrate:up
CREATE TABLE t (id bigint);
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;

-- migrate:down
DROP FUNCTION f();
DROP TABLE t;
"""


def parse(text: str, name: str = "0001_t.sql") -> MigrationFile:
    return parse_migration(text, Path(name))


def test_sections_and_statement_lines_come_from_the_parser() -> None:
    m = parse_migration(GOOD, Path("0001_create_t.sql"))
    assert (m.version, m.description) == (1, "create t")
    assert [s.line for s in m.up.statements] == [3, 4]
    assert m.up.statements[1].sql.endswith("$$ SELECT 1; $$")
    assert m.down is not None
    assert [s.line for s in m.down.statements] == [7, 8]
    assert m.in_transaction


def test_checksums_of_the_shipped_migrations_never_change() -> None:
    # Databases store these: a different value would stop every deployment.
    assert {f.file_name: f.checksum for f in load_directory(DEFAULT_DIRECTORY)} == {
        "0001_rbac_schema.sql": "187e6e574c258d05733b5d6accaf36df84ae9aa3e306574d3c4067d184d4ee35",
        "0002_index_users_created_at.sql": (
            "67ad8aabffb746713b8583e6ed05be91bfc31a7e98f53029802b2b7344ab5185"
        ),
    }


def test_checksum_covers_the_up_section_text_between_the_markers() -> None:
    assert parse(GOOD).checksum == checksum(
        GOOD[GOOD.index("\nCREATE") : GOOD.index("-- migrate:down")]
    )


def test_checksum_ignores_line_endings_and_trailing_whitespace() -> None:
    crlf = GOOD.replace("\n", "  \r\n")
    assert parse_migration(crlf, Path("0001_t.sql")).checksum == parse(GOOD).checksum


def test_checksum_changes_when_the_up_sql_changes() -> None:
    assert checksum("SELECT 1") != checksum("SELECT 2")


def test_checksum_ignores_the_down_section() -> None:
    edited = GOOD.replace("DROP TABLE t;", "DROP TABLE IF EXISTS t;")
    assert parse(edited).checksum == parse(GOOD).checksum


def test_no_transaction_marker_is_detected() -> None:
    text = "-- migrate:no-transaction\n-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
    assert not parse_migration(text, Path("0002_i.sql")).in_transaction


def test_a_marker_inside_a_string_is_not_a_marker() -> None:
    text = "-- migrate:up\nSELECT '\n-- migrate:down\n';\n"
    m = parse_migration(text, Path("0001_t.sql"))
    assert m.down is None and len(m.up.statements) == 1


def test_file_without_up_section_is_rejected() -> None:
    with pytest.raises(MigrationFileError, match=r"0001_t.sql:1: no '-- migrate:up'"):
        parse("CREATE TABLE t (id int);\n")


def test_an_up_section_with_only_comments_is_an_empty_no_op() -> None:
    m = parse("-- migrate:up\n-- nothing\n-- migrate:down\nDROP TABLE t;\n")
    assert m.up.statements == () and m.down is not None and len(m.down.statements) == 1


def test_sql_that_does_not_parse_is_rejected_with_file_and_line() -> None:
    text = "-- migrate:up\nCREATE TABLE t (id int);\n\nCREATE TABEL u (id int);\n"
    with pytest.raises(MigrationFileError) as info:
        parse(text, "0003_typo.sql")
    assert (info.value.path, info.value.line) == ("0003_typo.sql", 4)
    assert "TABEL" in str(info.value)


def test_sql_that_does_not_parse_is_a_parse_error() -> None:
    with pytest.raises(MigrationParseError, match=r"0001_t.sql:2: "):
        parse("-- migrate:up\nSELEC 1;\n")


def test_syntax_error_in_the_down_section_is_reported_at_its_file_line() -> None:
    text = "-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE;\n"
    with pytest.raises(MigrationFileError) as info:
        parse(text)
    assert info.value.line == 4


def test_transaction_control_is_rejected() -> None:
    with pytest.raises(MigrationFileError, match=r":3: transaction control"):
        parse("-- migrate:up\nCREATE TABLE t (id int);\nCOMMIT;\n")


def test_down_before_up_is_rejected() -> None:
    with pytest.raises(MigrationFileError, match="comes before"):
        parse("-- migrate:down\nDROP TABLE t;\n-- migrate:up\nCREATE TABLE t (id int);\n")


def test_two_up_markers_are_rejected() -> None:
    with pytest.raises(MigrationFileError, match=r":3: second"):
        parse("-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n")


@pytest.mark.parametrize("name", ["users.sql", "01-users.sql", "abc_users.sql", "0001_.sql"])
def test_badly_named_files_are_rejected(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("-- migrate:up\nSELECT 1;\n")
    with pytest.raises(MigrationFileError, match="NNNN_description.sql"):
        load_directory(tmp_path)


def test_two_files_with_one_version_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "001_b.sql", "SELECT 2;")
    with pytest.raises(MigrationFileError, match="version 1 is also used by"):
        load_directory(tmp_path)


def test_directory_is_sorted_by_version_not_name(tmp_path: Path) -> None:
    write(tmp_path, "10_ten.sql", "SELECT 10;")
    write(tmp_path, "0002_two.sql", "SELECT 2;")
    assert [m.version for m in load_directory(tmp_path)] == [2, 10]


def test_new_file_gets_the_next_number(tmp_path: Path) -> None:
    write(tmp_path, "0007_seven.sql", "SELECT 7;")
    path = create_file(tmp_path, "Add orders table!")
    assert path.name == "0008_add_orders_table.sql"
    assert "-- migrate:up" in path.read_text() and "-- migrate:down" in path.read_text()


def test_the_shipped_migrations_parse_and_have_downs() -> None:
    files = load_directory(DEFAULT_DIRECTORY)
    assert [f.version for f in files] == [1, 2]
    assert all(f.has_down for f in files)
    assert not files[1].in_transaction


def test_statements_carry_their_allow_comments_for_the_validator() -> None:
    text = "-- migrate:up\n-- pa:allow truncating-table scratch data\nTRUNCATE t;\n"
    (stmt,) = parse_migration(text, Path("0001_t.sql")).up.statements
    assert [(a.rule, a.reason, a.line) for a in stmt.allows] == [
        ("truncating-table", "scratch data", 2)
    ]


def test_linting_a_parsed_file_equals_linting_its_text() -> None:
    text = "-- migrate:no-transaction\n-- migrate:up\nCREATE INDEX i ON t (a);\nTRUNCATE t;\n"
    m = parse_migration(text, Path("0001_t.sql"))
    assert lint_section(m.up, path="0001_t.sql") == lint_text(text, path="0001_t.sql")


def test_up_section_excludes_down_and_keeps_file_lines() -> None:
    section = up_section(
        "-- migrate:up\nCREATE TABLE t (id int);\n-- migrate:down\nDROP TABLE t;\n"
    )
    assert "DROP" not in section.sql and section.in_transaction
    assert [s.line for s in section.statements] == [2]


def test_plain_file_is_all_up_but_no_transaction_marker_counts() -> None:
    section = up_section("-- migrate:no-transaction\nVACUUM t;\n")
    assert not section.in_transaction and "VACUUM" in section.sql


def test_up_section_leaves_transaction_control_to_the_lint_rules() -> None:
    (begin, _, _) = up_section("BEGIN;\nSELECT 1;\nCOMMIT;\n").statements
    assert begin.line == 1
