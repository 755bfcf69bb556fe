"""``pa-db migrate facts`` exports what lint needs; ``lint --facts`` judges as the database does."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from personal_assistant.cli.migrate import app
from personal_assistant.database.migrations.validation import FactsFileError, lint_text
from personal_assistant.database.migrations.validation.facts_file import load_facts
from tests.fixtures.postgres import ServerInfo

runner = CliRunner()

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(100) NOT NULL, name varchar(50),
                    nick text, CONSTRAINT users_nick_nn CHECK (nick IS NOT NULL));
INSERT INTO users SELECT g, 'u' || g || '@x', 'n', 'k' FROM generate_series(1, 20000) g;
CREATE TABLE tags (id bigint PRIMARY KEY, label varchar(20));
INSERT INTO tags VALUES (1, 'a'), (2, 'b');
CREATE INDEX users_name_idx ON users (name);
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY, amount numeric(10, 2));
ANALYZE;
"""

MIGRATIONS = {
    "0001_changes.sql": """
        -- migrate:up
        ALTER TABLE users ALTER COLUMN email TYPE varchar(200);
        ALTER TABLE users ALTER COLUMN name TYPE varchar(20);
        ALTER TABLE users ALTER COLUMN nick SET NOT NULL;
        ALTER TABLE users ALTER COLUMN name SET NOT NULL;
        CREATE INDEX users_email_idx ON users (email);
        CREATE INDEX tags_label_idx ON tags (label);
        ALTER TABLE billing.invoices ALTER COLUMN amount TYPE numeric(12, 2);
        DROP INDEX users_name_idx;
        ALTER TABLE not_there_yet ADD COLUMN x int;
        """,
}


def write_migrations(directory: Path) -> Path:
    directory.mkdir()
    for name, text in MIGRATIONS.items():
        (directory / name).write_text("\n".join(line.strip() for line in text.splitlines()))
    return directory


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture
def facts_db(database_dsn: str) -> str:
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return database_dsn


def test_lint_with_a_facts_file_finds_what_lint_with_the_database_finds(
    facts_db: str, database_url: str, tmp_path: Path
) -> None:
    migrations = write_migrations(tmp_path / "m")
    output = tmp_path / "facts.json"
    code, out = invoke("facts", "--output", str(output), "--database-url", database_url)
    assert code == 0 and "wrote the facts of" in out

    live_code, live = invoke(
        "lint", str(migrations), "--database-url", database_url, "--format", "json"
    )
    file_code, from_file = invoke(
        "lint", str(migrations), "--facts", str(output), "--format", "json"
    )
    assert (file_code, json.loads(from_file)) == (live_code, json.loads(live))
    rules = [
        (f["line"], f["rule"], f["severity"]) for f in json.loads(live)["files"][0]["findings"]
    ]
    assert rules == [
        (4, "changing-column-type", "error"),  # varchar(50) -> varchar(20) narrows 20,000 rows
        (6, "setting-not-null", "error"),  # name has no NOT NULL proof (nick has a CHECK)
        (7, "create-index-non-concurrently", "error"),
        (8, "create-index-non-concurrently", "info"),  # tags has 2 rows
        (10, "drop-index-non-concurrently", "error"),
    ]


def test_the_export_reads_only_the_catalog_and_describes_each_relation(
    pg_server: ServerInfo, facts_db: str, database_name: str, tmp_path: Path
) -> None:
    # A role that may not read any table's rows still exports everything lint needs.
    with psycopg.connect(facts_db, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS facts_reader")
        conn.execute("CREATE ROLE facts_reader LOGIN")
    output = tmp_path / "facts.json"
    url = f"postgresql+asyncpg://facts_reader@{pg_server.host}:{pg_server.port}/{database_name}"
    try:
        with psycopg.connect(facts_db) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE facts_reader")
            conn.execute("SELECT 1 FROM users LIMIT 1")
        code, _ = invoke("facts", "-o", str(output), "--database-url", url)
        assert code == 0
    finally:
        with psycopg.connect(facts_db, autocommit=True) as conn:
            conn.execute("DROP ROLE facts_reader")
    document = json.loads(output.read_text())
    users = document["relations"]["public.users"]
    assert users["kind"] == "table" and users["visible_as"] == "users"
    assert 19_000 <= users["rows"] <= 21_000
    assert users["columns"]["email"] == {"type": "varchar", "modifiers": [100], "not_null": True}
    assert users["proven_not_null"] == ["nick"]
    assert set(users["constraints"]) == {"users_pkey", "users_nick_nn"}
    assert sorted(users["indexes"]) == ["users_name_idx", "users_pkey"]
    assert document["relations"]["public.users_name_idx"]["table"] == "public.users"
    assert "visible_as" not in document["relations"]["billing.invoices"]


def test_a_name_the_export_does_not_know_is_a_relation_that_does_not_exist_yet(
    tmp_path: Path,
) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"format": "pa-db table facts", "version": 1, "relations": {}}))
    facts = load_facts(path).for_names(["orders"])
    result = lint_text("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;", facts=facts)
    assert [f.severity.value for f in result.findings] == ["info"]


def test_a_file_that_is_not_a_facts_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text('{"relations": {}}')
    with pytest.raises(FactsFileError, match="not a pa-db table facts file"):
        load_facts(path)
    code, _ = invoke("lint", str(tmp_path), "--facts", str(path))
    assert code == 2
