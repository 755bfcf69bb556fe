"""Statement fingerprints: stable ids, no literal values in the display text."""

from __future__ import annotations

from personal_assistant.monitoring.fingerprint import MAX_TEXT, redact, statement_key


def test_literals_and_parameters_share_a_fingerprint() -> None:
    a = statement_key("SELECT * FROM users WHERE email = 'a@example.com'")
    b = statement_key("SELECT * FROM users WHERE email = $1")
    assert a.fingerprint == b.fingerprint


def test_display_text_has_no_literal() -> None:
    key = statement_key("ALTER ROLE app PASSWORD 'hunter2'")
    assert "hunter2" not in key.text and "$1" in key.text


def test_unparsable_sql_is_redacted_and_still_grouped() -> None:
    a = statement_key("NOT SQL 'secret-1' 42")
    b = statement_key("NOT SQL 'secret-2' 43")
    assert a.fingerprint == b.fingerprint
    assert "secret" not in a.text


def test_long_statements_are_truncated() -> None:
    sql = "SELECT " + ", ".join(f"c{i}" for i in range(200)) + " FROM t"
    assert len(statement_key(sql).text) == MAX_TEXT


def test_redact_replaces_strings_and_numbers() -> None:
    assert redact("x = 'it''s' AND y = 3.5") == "x = ? AND y = ?"


def test_the_monitoring_tag_stays_in_the_display_text() -> None:
    key = statement_key("/* pa:monitoring */ SELECT * FROM pg_class WHERE oid = 42")
    assert key.text == "/* pa:monitoring */ SELECT * FROM pg_class WHERE oid = $1"


def test_a_tagged_statement_is_told_apart_from_the_same_one_untagged() -> None:
    # pglast's fingerprint ignores comments: without care both would share figures.
    tagged = statement_key("/* pa:monitoring */ SELECT * FROM pg_class WHERE oid = 42")
    plain = statement_key("SELECT * FROM pg_class WHERE oid = 42")
    again = statement_key("/* pa:monitoring */\n  SELECT * FROM pg_class WHERE oid = $1")
    assert tagged.fingerprint != plain.fingerprint
    assert tagged.fingerprint == again.fingerprint
