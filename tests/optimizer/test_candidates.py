"""Column extraction with pglast and candidate building (pure, no database)."""

from __future__ import annotations

from personal_assistant.optimizer.candidates import build_candidates, covered
from personal_assistant.optimizer.models import IndexStat
from personal_assistant.optimizer.parsing import column_uses, is_plannable, param_count
from personal_assistant.optimizer.statements import Candidate, ColumnUse

COLUMNS = {
    ("public", "orders"): frozenset({"id", "customer_id", "status", "created_at"}),
    ("public", "customers"): frozenset({"id", "email", "Region"}),
}
PATH = ("public",)


def uses(query: str) -> set[tuple[str, str, str]]:
    return {(u.table, u.column, u.usage) for u in column_uses(query, COLUMNS, PATH)}


def test_filters_joins_and_sort_keys_are_resolved_through_aliases() -> None:
    query = (
        "SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status = $1 AND created_at > $2 ORDER BY o.created_at DESC LIMIT $3"
    )
    assert uses(query) == {
        ("customers", "id", "join"),
        ("orders", "customer_id", "join"),
        ("orders", "status", "eq"),
        ("orders", "created_at", "range"),
        ("orders", "created_at", "sort"),
    }


def test_in_lists_any_null_tests_and_quoted_names_are_filters() -> None:
    query = 'SELECT * FROM customers WHERE "Region" IN ($1, $2) AND email IS NULL AND id = ANY($3)'
    assert uses(query) == {
        ("customers", "Region", "eq"),
        ("customers", "email", "eq"),
        ("customers", "email", "null"),
        ("customers", "id", "eq"),
    }


def test_subqueries_resolve_their_own_tables() -> None:
    query = "SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE email = $1)"
    assert ("customers", "email", "eq") in uses(query)


def test_ambiguous_unknown_and_unparsable_columns_are_ignored() -> None:
    assert uses("SELECT * FROM orders o JOIN customers c ON true WHERE id = $1") == set()
    assert uses("SELECT * FROM missing WHERE x = 1") == set()
    assert uses("SELEKT nonsense") == set()


def test_update_and_delete_filters_count() -> None:
    assert uses("UPDATE orders SET status = $1 WHERE customer_id = $2") == {
        ("orders", "customer_id", "eq")
    }
    assert uses("DELETE FROM orders WHERE created_at < $1") == {("orders", "created_at", "range")}


def test_param_count_and_plannable() -> None:
    assert param_count("SELECT * FROM t WHERE a = $1 AND b = $3") == 3
    assert param_count("SELECT 1") == 0
    assert is_plannable("SELECT 1")
    assert not is_plannable("SELECT 1; DROP TABLE t")
    assert not is_plannable("VACUUM t")
    assert not is_plannable("BEGIN")


def index(*columns: str, predicate: str | None = None, valid: bool = True) -> IndexStat:
    return IndexStat(
        "public", "orders", "i", columns, "btree", 0, 0, predicate=predicate, is_valid=valid
    )


def test_candidates_are_single_columns_then_pairs_led_by_equality() -> None:
    found = build_candidates(
        [
            ColumnUse("public", "orders", "status", "eq"),
            ColumnUse("public", "orders", "created_at", "range"),
        ],
        [],
        limit=10,
    )
    assert [c.columns for c in found] == [("status",), ("created_at",), ("status", "created_at")]


def test_candidates_covered_by_an_existing_index_of_any_method_are_skipped() -> None:
    hash_index = IndexStat("public", "orders", "h", ("status",), "hash", 0, 0)
    assert covered(Candidate("public", "orders", ("status",)), [hash_index])
    assert covered(Candidate("public", "orders", ("status",)), [index("status", "id")])
    assert not covered(Candidate("public", "orders", ("status",)), [index("id", "status")])
    assert not covered(Candidate("public", "orders", ("status",)), [index("status", valid=False)])
    assert not covered(
        Candidate("public", "orders", ("status",)), [index("status", predicate="id > 0")]
    )


def test_null_tests_make_partial_candidates_and_covering_ones_when_few_columns_are_read() -> None:
    query = "SELECT id FROM orders WHERE customer_id = $1 AND status IS NULL"
    found = build_candidates(
        column_uses(query, COLUMNS, PATH), [], limit=20, read={("public", "orders"): {"id"}}
    )
    partial = [c for c in found if c.predicate]
    assert [(c.columns, c.include, c.predicate) for c in partial] == [
        (("customer_id",), (), "status IS NULL"),
        (("customer_id",), ("id",), "status IS NULL"),
    ]


def test_lower_of_a_column_is_an_expression_key() -> None:
    (use,) = column_uses("SELECT * FROM customers WHERE lower(email) = $1", COLUMNS, PATH)
    assert (use.column, use.expression, use.param) == ("email", "lower(email)", 1)
