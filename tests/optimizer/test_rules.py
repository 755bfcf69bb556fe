"""The checks as pure functions over hand-built facts (no database)."""

from __future__ import annotations

from personal_assistant.config.optimization import OptimizerSettings
from personal_assistant.optimizer import choose, index_rules, ranking, rules
from personal_assistant.optimizer.models import (
    BloatStat,
    CatalogFacts,
    ForeignKey,
    IndexStat,
    Kind,
    SequenceStat,
    Severity,
    TableStat,
)

SETTINGS = OptimizerSettings()
WEEK = 8 * 24 * 3600.0


def table(**kw: object) -> TableStat:
    base: dict[str, object] = dict(
        schema="public",
        name="t",
        size_bytes=0,
        live_tuples=10_000,
        dead_tuples=0,
        seq_scan=0,
        seq_tup_read=0,
        idx_scan=0,
        mod_since_analyze=0,
        heap_blks_hit=0,
        heap_blks_read=0,
        has_primary_key=True,
    )
    base.update(kw)
    return TableStat(**base)  # type: ignore[arg-type]


def idx(name: str, *cols: str, **kw: object) -> IndexStat:
    base: dict[str, object] = dict(
        schema="public",
        table="t",
        name=name,
        columns=cols,
        access_method="btree",
        size_bytes=8192,
        scans=0,
    )
    base.update(kw)
    return IndexStat(**base)  # type: ignore[arg-type]


def test_vacuum_needs_both_the_ratio_and_the_minimum_count() -> None:
    assert rules.vacuum_needed(table(dead_tuples=5_000), SETTINGS) is not None
    assert rules.vacuum_needed(table(dead_tuples=500, live_tuples=100), SETTINGS) is None
    assert rules.vacuum_needed(table(dead_tuples=1_500, live_tuples=100_000), SETTINGS) is None


def test_analyze_is_needed_when_never_analyzed_or_much_changed() -> None:
    assert rules.analyze_needed(table(), SETTINGS) is not None
    from datetime import UTC, datetime

    done = datetime.now(UTC)
    assert rules.analyze_needed(table(last_analyze=done), SETTINGS) is None
    assert rules.analyze_needed(table(last_analyze=done, mod_since_analyze=5_000), SETTINGS)


def test_partitions_and_keyed_tables_need_no_primary_key_advice() -> None:
    assert rules.missing_primary_key(table()) is None
    assert (
        rules.missing_primary_key(table(has_primary_key=False, is_partitioned_child=True)) is None
    )
    assert rules.missing_primary_key(table(has_primary_key=False)) is not None


def test_cache_hit_ratio_ignores_tables_read_too_little_to_judge() -> None:
    assert rules.low_cache_hit(table(heap_blks_hit=10, heap_blks_read=90), SETTINGS) is None
    low = table(heap_blks_hit=1_000, heap_blks_read=20_000)
    assert rules.low_cache_hit(low, SETTINGS) is not None
    high = table(heap_blks_hit=200_000, heap_blks_read=1_000)
    assert rules.low_cache_hit(high, SETTINGS) is None


def facts(*indexes: IndexStat, age: float = WEEK, fks: tuple[ForeignKey, ...] = ()) -> CatalogFacts:
    return CatalogFacts(indexes=indexes, foreign_keys=fks, stats_age_seconds=age)


def test_unused_waits_for_old_statistics_and_spares_unique_and_fk_indexes() -> None:
    fk = ForeignKey("public", "t", "t_p_fkey", ("p",), 10_000)
    found = facts(idx("lonely", "a"), idx("uniq", "b", is_unique=True), idx("fk", "p"), fks=(fk,))
    assert [r.index for r in index_rules.unused_indexes(found, SETTINGS)] == ["lonely"]
    assert index_rules.unused_indexes(facts(idx("lonely", "a"), age=3600), SETTINGS) == []
    incomplete = CatalogFacts(
        indexes=(idx("lonely", "a"),), stats_age_seconds=WEEK, replica_scans_complete=False
    )
    assert index_rules.unused_indexes(incomplete, SETTINGS) == []


def test_duplicates_keep_the_constraint_index() -> None:
    recs = index_rules.duplicate_indexes(
        [idx("plain", "a", scans=50), idx("con", "a", is_unique=True, backs_constraint=True)]
    )
    assert [r.index for r in recs] == ["plain"]
    assert recs[0].sql == "DROP INDEX CONCURRENTLY public.plain;"


def test_different_methods_or_predicates_are_not_duplicates() -> None:
    assert index_rules.duplicate_indexes([idx("b", "a"), idx("h", "a", access_method="hash")]) == []
    assert index_rules.duplicate_indexes([idx("b", "a"), idx("p", "a", predicate="a > 0")]) == []


def test_a_unique_prefix_is_not_redundant() -> None:
    assert index_rules.redundant_indexes([idx("u", "a", is_unique=True), idx("ab", "a", "b")]) == []
    recs = index_rules.redundant_indexes([idx("a", "a"), idx("ab", "a", "b")])
    assert [r.index for r in recs] == ["a"]


def test_include_columns_count_as_a_longer_index_as_in_pghero() -> None:
    covering = idx("a_inc", "a", include=("b",))
    assert [r.index for r in index_rules.redundant_indexes([idx("a", "a"), covering])] == ["a"]
    assert index_rules.redundant_indexes([idx("b", "b"), covering]) == []
    partial = idx("a_p", "a", predicate="b IS NULL")
    assert index_rules.redundant_indexes([partial, covering]) == []


def test_fk_index_may_list_the_columns_in_any_order() -> None:
    fk = ForeignKey("public", "t", "f", ("x", "y"), 10_000)
    assert choose.fk_needs([fk], [idx("yx", "y", "x", "z")], 1000) == []
    assert choose.fk_needs([fk], [idx("xz", "x", "z")], 1000) == [fk]
    small = ForeignKey("public", "t", "f", ("x",), 10)
    assert choose.fk_needs([small], [], 1000) == []


def seq(last: int | None, data_type: str = "integer", **kw: object) -> SequenceStat:
    top = {"integer": 2**31 - 1, "bigint": 2**63 - 1}[data_type]
    return SequenceStat("public", "s", last, 1, top, 1, data_type, **kw)  # type: ignore[arg-type]


def test_sequences_are_measured_against_the_column_type() -> None:
    assert rules.sequence_recommendations([seq(100), seq(None)], SETTINGS) == []
    wide = seq(
        2_000_000_000,
        "bigint",
        column_max=2**31 - 1,
        owner_table="t",
        owner_column="id",
        owner_type="integer",
    )
    (rec,) = rules.sequence_recommendations([wide], SETTINGS)
    assert rec.severity is Severity.CRITICAL
    assert rec.sql == "ALTER TABLE public.t ALTER COLUMN id TYPE bigint;"


def test_bloat_estimate_is_near_zero_for_a_packed_table() -> None:
    packed = BloatStat(
        "public", "t", pages=1_000, tuples=100_000, data_width=36, block_size=8192, fillfactor=100
    )
    wasted, share = rules.estimated_bloat(packed)
    assert share < 0.2
    sparse = BloatStat(
        "public", "t", pages=10_000, tuples=100_000, data_width=36, block_size=8192, fillfactor=100
    )
    assert rules.estimated_bloat(sparse)[1] > 0.8


def test_recommendations_come_most_severe_first() -> None:
    found = CatalogFacts(
        tables=(
            table(dead_tuples=20_000, live_tuples=1_000),
            table(name="u", has_primary_key=False, last_analyze=None),
        ),
    )
    recs = ranking.rank(rules.maintenance_recommendations(found, [], SETTINGS))
    assert recs[0].kind is Kind.VACUUM_NEEDED and recs[0].severity is Severity.CRITICAL
