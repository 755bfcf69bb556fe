"""``import``: each tool's layout becomes pa-db files; what cannot map is listed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from personal_assistant.database.migrations import ImportConflictError
from personal_assistant.database.migrations.files import load_directory
from personal_assistant.database.migrations.importers import import_directory, read_source


def put(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def imported(tmp_path: Path, tool: str) -> dict[int, str]:
    """Import ``tmp_path/src`` and return ``{version: file text}`` of what was written."""
    import_directory(tool, tmp_path / "src", tmp_path / "out")
    return {f.version: f.path.read_text() for f in load_directory(tmp_path / "out")}


# -- golang-migrate ----------------------------------------------------------------------


def test_golang_migrate_pairs_become_one_file_keeping_version_and_title(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(src, "20240101120000_create_users.up.sql", "CREATE TABLE users (id bigint);\n")
    put(src, "20240101120000_create_users.down.sql", "DROP TABLE users;\n")
    files = imported(tmp_path, "golang-migrate")
    assert (tmp_path / "out" / "20240101120000_create_users.sql").is_file()
    assert files[20240101120000] == (
        "-- Imported from golang-migrate: 20240101120000_create_users.up.sql, "
        "20240101120000_create_users.down.sql\n"
        "-- migrate:up\nCREATE TABLE users (id bigint);\n"
        "-- migrate:down\nDROP TABLE users;\n"
    )


def test_an_up_without_a_down_file_is_irreversible_and_empty_files_are_no_ops(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    put(src, "1_keep.up.sql", "CREATE TABLE keep (id bigint);\n")
    put(src, "2_nothing.up.sql", "")
    put(src, "2_nothing.down.sql", "-- nothing to undo\n")
    imported(tmp_path, "golang-migrate")
    keep, nothing = load_directory(tmp_path / "out")
    assert keep.file_name == "0001_keep.sql" and keep.down is None
    assert nothing.up.statements == () and nothing.down is not None
    assert "-- empty in 2_nothing.up.sql: a recorded no-op" in nothing.up.sql
    assert "-- nothing to undo" in nothing.down.sql


def test_a_begin_commit_around_the_file_is_dropped_and_noted(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_t.up.sql", "BEGIN;\nCREATE TABLE t (id bigint);\nCOMMIT;\n")
    report = import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")
    (file,) = load_directory(tmp_path / "out")
    assert [s.sql for s in file.up.statements] == ["CREATE TABLE t (id bigint)"]
    ((name, note),) = report.notes
    assert name == "0001_t.sql" and "BEGIN/COMMIT was dropped" in note


def test_transaction_control_half_way_is_listed_not_imported(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_t.up.sql", "CREATE TABLE t (id bigint);\nCOMMIT;\nVACUUM t;\n")
    converted, skipped = read_source("golang-migrate", tmp_path / "src")
    assert converted == []
    assert [s.source for s in skipped] == ["1_t.up.sql"]
    assert "line 2: transaction control ('COMMIT')" in skipped[0].reason


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("CREATE INDEX CONCURRENTLY t_idx ON t (id);", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY t_idx;", "DROP INDEX CONCURRENTLY"),
        ("REINDEX INDEX CONCURRENTLY t_idx;", "REINDEX CONCURRENTLY"),
        ("VACUUM (ANALYZE) t;", "VACUUM"),
        ("ALTER TYPE mood ADD VALUE 'happy';", "ALTER TYPE ... ADD VALUE"),
        ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;", "DETACH PARTITION CONCURRENTLY"),
    ],
)
def test_statements_that_cannot_run_in_a_transaction_mark_the_file(
    tmp_path: Path, sql: str, reason: str
) -> None:
    put(tmp_path / "src", "7_x.up.sql", f"-- a comment mentioning BEGIN; is not SQL\n{sql}\n")
    (file,) = read_source("golang-migrate", tmp_path / "src")[0]
    assert f"-- Note: runs outside a transaction: {reason}" in file.text
    assert "at 7_x.up.sql:2" in file.text
    assert "-- migrate:no-transaction" in file.text


def test_concurrently_inside_a_string_or_comment_does_not_mark_the_file(tmp_path: Path) -> None:
    put(
        tmp_path / "src",
        "7_x.up.sql",
        "-- CREATE INDEX CONCURRENTLY would be wrong here\n"
        "COMMENT ON TABLE t IS 'CREATE INDEX CONCURRENTLY';\n",
    )
    (file,) = read_source("golang-migrate", tmp_path / "src")[0]
    assert "migrate:no-transaction" not in file.text


def test_files_golang_migrate_would_not_run_are_listed_with_a_reason(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(src, "1_t.up.sql", "SELECT 1;\n")
    put(src, "2_mongo.up.json", "{}\n")
    put(src, "3_lonely.down.sql", "SELECT 1;\n")
    put(src, "README.md", "hi\n")
    put(src, "4_bad.up.sql", "CREATE TABEL t (id int);\n")
    skipped = dict((s.source, s.reason) for s in read_source("golang-migrate", src)[1])
    assert skipped["2_mongo.up.json"].startswith("not SQL (.json)")
    assert skipped["3_lonely.down.sql"] == "a down file without an up file"
    assert skipped["README.md"].startswith("not a golang-migrate name")
    assert skipped["4_bad.up.sql:1"].startswith('syntax error at or near "TABEL"')


# -- dbmate --------------------------------------------------------------------------------


def test_dbmate_files_keep_their_sections_and_transaction_false_maps(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(
        src,
        "20240101120000_users.sql",
        """
        -- migrate:up
        CREATE TABLE users (id bigint, note text DEFAULT '-- migrate:down');

        -- migrate:down
        DROP TABLE users;
        """,
    )
    put(
        src,
        "20240101120001_users_idx.sql",
        """
        -- migrate:up transaction:false
        CREATE INDEX CONCURRENTLY users_id_idx ON users (id);

        -- migrate:down
        """,
    )
    import_directory("dbmate", src, tmp_path / "out")
    users, index = load_directory(tmp_path / "out")
    assert users.in_transaction and users.down is not None
    assert [s.sql for s in users.down.statements] == ["DROP TABLE users"]
    assert not index.in_transaction
    assert "runs outside a transaction: dbmate transaction:false" in index.path.read_text()
    assert index.down is not None and index.down.statements == ()


def test_a_dbmate_file_without_an_up_marker_is_listed(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_x.sql", "CREATE TABLE x (id int);\n")
    assert read_source("dbmate", tmp_path / "src")[1][0].reason == "no '-- migrate:up' marker"


# -- Flyway --------------------------------------------------------------------------------


def test_flyway_versions_pair_with_undo_files_and_the_rest_is_listed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(src, "V1__Create_users.sql", "CREATE TABLE users (id bigint);\n")
    put(src, "U1__Create_users.sql", "DROP TABLE users;\n")
    put(src, "sub/V002__add_index.sql", "CREATE INDEX CONCURRENTLY ix ON users (id);\n")
    put(src, "sub/V002__add_index.sql.conf", "executeInTransaction=false\n")
    put(src, "R__refresh_view.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;\n")
    put(src, "V1_1__dotted.sql", "SELECT 1;\n")
    put(src, "V3__Java.java", "class V3__Java {}\n")
    put(src, "V4__placeholder.sql", "CREATE TABLE ${schema}.t (id int);\n")
    converted, skipped = read_source("flyway", src)
    assert [(f.version, f.name) for f in converted] == [
        (1, "0001_Create_users.sql"),
        (2, "0002_add_index.sql"),
    ]
    assert "-- migrate:down\nDROP TABLE users;" in converted[0].text
    assert "Flyway executeInTransaction=false (V002__add_index.sql.conf)" in converted[1].text
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["R__refresh_view.sql"].startswith("a repeatable migration")
    assert reasons["V1_1__dotted.sql"].startswith("version 1.1 is not a whole number")
    assert reasons["V3__Java.java"] == "a Java (JVM) migration: rewrite it as SQL"
    assert reasons["V4__placeholder.sql"].startswith("uses Flyway placeholders")


# -- goose ---------------------------------------------------------------------------------


def test_goose_annotations_map_and_statement_blocks_disappear(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(
        src,
        "00001_functions.sql",
        """
        -- +goose Up
        -- +goose StatementBegin
        CREATE FUNCTION one() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;
        -- +goose StatementEnd

        -- +goose Down
        DROP FUNCTION one();
        """,
    )
    put(
        src,
        "00002_index.sql",
        """
        -- +goose NO TRANSACTION
        -- +goose Up
        CREATE INDEX CONCURRENTLY t_idx ON t (id);
        -- +goose Down
        DROP INDEX CONCURRENTLY t_idx;
        """,
    )
    put(src, "00003_go.go", "package migrations\n")
    put(src, "00004_env.sql", "-- +goose ENVSUBST ON\n-- +goose Up\nSELECT '${X}';\n")
    converted, skipped = read_source("goose", src)
    functions, index = converted
    assert (
        functions.name == "00001_functions.sql" and "+goose" not in functions.text.split("\n", 1)[1]
    )
    assert "runs outside a transaction: goose NO TRANSACTION" in index.text
    reasons = {s.source: s.reason for s in skipped}
    assert reasons["00003_go.go"] == "a Go migration: rewrite it as SQL"
    assert reasons["00004_env.sql"].startswith("uses '-- +goose ENVSUBST ON'")


# -- idempotence and conflicts -------------------------------------------------------------


def test_importing_twice_writes_nothing_the_second_time(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_t.up.sql", "CREATE TABLE t (id bigint);\n")
    first = import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")
    second = import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")
    assert len(first.written) == 1 and second.written == ()
    assert second.unchanged == first.written


def test_a_differing_existing_file_stops_the_import_naming_it(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_t.up.sql", "CREATE TABLE t (id bigint);\n")
    put(tmp_path / "src", "2_u.up.sql", "CREATE TABLE u (id bigint);\n")
    put(tmp_path / "out", "0001_t.sql", "-- migrate:up\nCREATE TABLE t (id int);\n")
    with pytest.raises(ImportConflictError, match=r"out/0001_t.sql: exists and differs"):
        import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out" / "0002_u.sql").exists()


def test_a_version_already_used_under_another_name_is_a_conflict(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_t.up.sql", "CREATE TABLE t (id bigint);\n")
    put(tmp_path / "out", "0001_other.sql", "-- migrate:up\nSELECT 1;\n")
    with pytest.raises(ImportConflictError, match=r"0001_other.sql: already uses version 1"):
        import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")


def test_two_sources_with_one_version_are_a_conflict(tmp_path: Path) -> None:
    put(tmp_path / "src", "1_a.up.sql", "SELECT 1;\n")
    put(tmp_path / "src", "01_b.up.sql", "SELECT 1;\n")
    with pytest.raises(ImportConflictError, match="version 1 comes from both"):
        import_directory("golang-migrate", tmp_path / "src", tmp_path / "out")
