"""The relations statements name: what the validator fetches facts for."""

from __future__ import annotations

from personal_assistant.database.migrations.validation import (
    parse_statements,
    referenced_relations,
)


def test_referenced_relations_include_dropped_indexes_and_schemas() -> None:
    stmts = parse_statements("DROP INDEX app.ix; CREATE INDEX j ON users (a); TRUNCATE s.t;")
    assert referenced_relations(stmts) == {"app.ix", "users", "s.t"}
