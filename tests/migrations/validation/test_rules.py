"""One behaviour per rule: the dangerous form is caught, the safe form is not."""

from __future__ import annotations

import pytest

from personal_assistant.database.migrations.validation import (
    CATALOGUE,
    ColumnType,
    DatabaseFacts,
    LintSettings,
    Severity,
    TableFacts,
    lint_sql,
)


def rules(sql: str, **kwargs: object) -> set[str]:
    """Ids of blocking findings."""
    return {f.rule for f in lint_sql(sql, **kwargs).errors}  # type: ignore[arg-type]


def facts(**rows: int) -> DatabaseFacts:
    return DatabaseFacts({name: TableFacts(name, rows=n) for name, n in rows.items()})


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("ALTER TABLE t ADD COLUMN c int NOT NULL", "adding-not-null-column"),
        ("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()", "adding-volatile-default"),
        ("ALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS IDENTITY", "adding-volatile-default"),
        ("CREATE INDEX i ON t (c)", "create-index-non-concurrently"),
        ("DROP INDEX i", "drop-index-non-concurrently"),
        ("REINDEX INDEX i", "reindex-non-concurrently"),
        ("REINDEX DATABASE app", "reindex-non-concurrently"),
        ("CREATE INDEX CONCURRENTLY i ON t (c)", "concurrently-in-transaction"),
        ("ALTER TABLE t ALTER COLUMN c TYPE bigint", "changing-column-type"),
        ("ALTER TABLE t ALTER COLUMN c SET NOT NULL", "setting-not-null"),
        ("ALTER TABLE t ADD FOREIGN KEY (u) REFERENCES u (id)", "constraint-missing-not-valid"),
        ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)", "constraint-missing-not-valid"),
        ("ALTER TABLE t ADD UNIQUE (a)", "adding-unique-constraint"),
        ("ALTER TABLE t ADD PRIMARY KEY (a)", "adding-primary-key"),
        ("ALTER TABLE t RENAME COLUMN a TO b", "renaming-column"),
        ("ALTER TABLE t RENAME TO u", "renaming-table"),
        ("ALTER TABLE t DROP COLUMN a", "dropping-column"),
        ("DROP TABLE t", "dropping-table"),
        ("DROP SCHEMA s CASCADE", "dropping-schema"),
        ("DROP DATABASE d", "dropping-database"),
        ("TRUNCATE t", "truncating-table"),
        ("UPDATE t SET a = 1", "update-without-where"),
        ("DELETE FROM t", "delete-without-where"),
        ("VACUUM FULL t", "vacuum-full"),
        ("CLUSTER t USING i", "cluster"),
        ("LOCK TABLE t IN SHARE MODE", "lock-table"),
        ("ALTER TABLE t SET LOGGED", "set-logged-unlogged"),
        ("ALTER TABLE t SET TABLESPACE fast", "set-tablespace"),
        ("ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)", "adding-domain-constraint"),
        ("BEGIN; SELECT 1; COMMIT;", "transaction-control-in-migration"),
    ],
)
def test_dangerous_statement_is_blocked_without_database_facts(sql: str, rule: str) -> None:
    assert rule in rules(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0",
        "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()",
        "ALTER TABLE t ADD COLUMN c timestamptz DEFAULT CURRENT_TIMESTAMP",
        "ALTER TABLE t ADD COLUMN c jsonb DEFAULT '{}'::jsonb",
        "ALTER TABLE t ADD FOREIGN KEY (u) REFERENCES u (id) NOT VALID",
        "ALTER TABLE t VALIDATE CONSTRAINT c",
        "ALTER TABLE t ADD CONSTRAINT k UNIQUE USING INDEX i",
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT random()",
        "UPDATE t SET a = 1 WHERE id < 100",
        "LOCK TABLE t IN ROW EXCLUSIVE MODE",
        "VACUUM t",
        "CREATE TABLE t (id bigint PRIMARY KEY); CREATE INDEX i ON t (id); TRUNCATE t",
        "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b int NOT NULL; DROP TABLE t",
    ],
)
def test_safe_statement_is_not_blocked(sql: str) -> None:
    assert rules(sql) == set()


def test_concurrently_is_fine_outside_a_transaction() -> None:
    assert rules("CREATE INDEX CONCURRENTLY i ON t (c)", in_transaction=False) == set()


def test_small_table_turns_lock_errors_into_info() -> None:
    result = lint_sql("CREATE INDEX i ON tags (c)", facts=facts(tags=12))
    assert [(f.rule, f.severity) for f in result.findings] == [
        ("create-index-non-concurrently", Severity.INFO)
    ]
    assert "12 rows" in result.findings[0].message


def test_threshold_is_configurable() -> None:
    sql = "CREATE INDEX i ON tags (c)"
    assert rules(sql, facts=facts(tags=500), settings=LintSettings(large_table_rows=100))


def test_table_missing_from_the_database_is_treated_as_new() -> None:
    missing = DatabaseFacts({"t": TableFacts("t", rows=0, exists=False)})
    assert rules("CREATE INDEX i ON t (c); ALTER TABLE t RENAME TO u", facts=missing) == set()


def test_never_analyzed_table_is_judged_large() -> None:
    unknown = DatabaseFacts({"t": TableFacts("t", rows=None)})
    assert rules("CREATE INDEX i ON t (c)", facts=unknown) == {"create-index-non-concurrently"}


def test_schema_qualified_name_finds_facts_of_the_bare_name() -> None:
    assert rules("CREATE INDEX i ON public.tags (c)", facts=facts(tags=5)) == set()


def test_not_null_column_is_fine_on_an_empty_table() -> None:
    assert rules("ALTER TABLE t ADD COLUMN c int NOT NULL", facts=facts(t=0)) == set()


def test_varchar_widening_is_safe_when_the_database_gives_the_old_type() -> None:
    known = DatabaseFacts(
        {"t": TableFacts("t", rows=10**6, columns={"c": ColumnType("varchar", (50,))})}
    )
    assert rules("ALTER TABLE t ALTER COLUMN c TYPE varchar(80)", facts=known) == set()
    assert rules("ALTER TABLE t ALTER COLUMN c TYPE text", facts=known) == set()
    assert rules("ALTER TABLE t ALTER COLUMN c TYPE varchar(20)", facts=known) == {
        "changing-column-type"
    }


def test_type_change_to_text_without_facts_only_warns() -> None:
    result = lint_sql("ALTER TABLE t ALTER COLUMN c TYPE text")
    assert [f.severity for f in result.findings] == [Severity.WARNING]


def test_using_clause_always_rewrites() -> None:
    sql = "ALTER TABLE t ALTER COLUMN c TYPE text USING c::text"
    assert rules(sql) == {"changing-column-type"}


def test_set_not_null_after_validated_check_in_same_migration_is_safe() -> None:
    sql = (
        "ALTER TABLE t ADD CONSTRAINT nn CHECK (c IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE t VALIDATE CONSTRAINT nn;\n"
        "ALTER TABLE t ALTER COLUMN c SET NOT NULL;"
    )
    assert rules(sql, in_transaction=False) == set()
    assert rules(sql) == {"validate-constraint-in-same-transaction"}


def test_set_not_null_is_safe_when_the_database_has_a_validated_check() -> None:
    known = DatabaseFacts({"t": TableFacts("t", rows=10**6, not_null_checked=frozenset({"c"}))})
    assert rules("ALTER TABLE t ALTER COLUMN c SET NOT NULL", facts=known) == set()


def test_unknown_function_default_warns_instead_of_blocking() -> None:
    result = lint_sql("ALTER TABLE t ADD COLUMN c text DEFAULT my_func()")
    assert [(f.rule, f.severity) for f in result.findings] == [
        ("adding-volatile-default", Severity.WARNING)
    ]


def test_style_warnings_do_not_block() -> None:
    sql = "CREATE TABLE t (id serial PRIMARY KEY, j json, ts timestamp, v varchar(20))"
    result = lint_sql(sql)
    assert result.ok
    assert {f.rule for f in result.findings} == {
        "prefer-bigint",
        "prefer-jsonb",
        "prefer-timestamptz",
        "prefer-text",
    }


def test_suppression_with_reason_is_recorded_and_does_not_block() -> None:
    result = lint_sql("SELECT 1;\n-- pa:allow truncating-table scratch table\nTRUNCATE t;")
    assert result.ok
    (finding,) = result.suppressed
    assert (finding.rule, finding.line, finding.suppressed_reason) == (
        "truncating-table",
        3,
        "scratch table",
    )


def test_suppression_without_reason_blocks() -> None:
    result = lint_sql("-- pa:allow truncating-table\nTRUNCATE t;")
    assert {f.rule for f in result.errors} == {"truncating-table", "invalid-suppression"}


def test_suppression_of_another_rule_does_not_apply() -> None:
    result = lint_sql("-- pa:allow dropping-table no\nTRUNCATE t;")
    assert {f.rule for f in result.errors} == {"truncating-table"}


def test_suppression_of_unknown_rule_warns() -> None:
    result = lint_sql("-- pa:allow no-such-rule because\nSELECT 1;")
    assert [(f.rule, f.severity) for f in result.findings] == [
        ("invalid-suppression", Severity.WARNING)
    ]


def test_hints_contain_the_sql_to_write() -> None:
    (finding,) = lint_sql("CREATE UNIQUE INDEX i ON t (lower(e)) WHERE d IS NULL").findings
    assert finding.hint.startswith("CREATE UNIQUE INDEX CONCURRENTLY i ON t")


def test_every_finding_has_a_catalogued_rule_id() -> None:
    sql = "ALTER TABLE t ADD COLUMN c int NOT NULL; DROP TABLE x; TRUNCATE y"
    assert {f.rule for f in lint_sql(sql).findings} <= set(CATALOGUE)
