"""Choosing one consistent index set and ranking it in ms/day (pure)."""

from __future__ import annotations

import dataclasses

from personal_assistant.config.optimization import OptimizerSettings
from personal_assistant.optimizer import choose, ranking, suggest
from personal_assistant.optimizer.models import (
    CatalogFacts,
    ForeignKey,
    IndexStat,
    Kind,
    PartitionLink,
    Recommendation,
    Severity,
    TableStat,
)
from personal_assistant.optimizer.statements import (
    Candidate,
    StatementPlan,
    StatementStat,
    Trial,
)

A = Candidate("public", "t", ("a",))
AB = Candidate("public", "t", ("a", "b"))
BA = Candidate("public", "t", ("b", "a"))
A_PARTIAL = Candidate("public", "t", ("a",), predicate="b IS NULL")
C = Candidate("public", "u", ("c",))
DAY = 86_400.0


def plan(cost: float, *tested: Trial, calls: int = 10, mean: float = 5.0) -> StatementPlan:
    stmt = StatementStat(hash(tested) & 0xFFFF, "SELECT 1", calls, calls * mean, mean)
    return StatementPlan(stmt, cost, hypothetical=tested)


def t(candidate: Candidate, cost: float, size: int | None = 8192) -> Trial:
    return Trial(candidate, cost, size)


def test_a_candidate_must_halve_the_cost_by_default() -> None:
    assert choose.best(plan(100, t(A, 51)), 0.5) is None
    assert choose.best(plan(100, t(A, 50)), 0.5) == t(A, 50)


def test_the_smallest_index_nearly_as_good_as_the_best_wins() -> None:
    assert choose.best(plan(100, t(A, 10, 800), t(AB, 9.5, 1600)), 0.5) == t(A, 10, 800)
    assert choose.best(plan(100, t(A, 10), t(AB, 2)), 0.5) == t(AB, 2)  # 5x the rest
    small = t(A_PARTIAL, 15, 100)
    assert choose.best(plan(1000, t(A, 10, 800), small), 0.5) == small
    worse = t(A_PARTIAL, 30, 100)  # saves 70 of the best 90
    assert choose.best(plan(100, t(A, 10, 800), worse), 0.5) == t(A, 10, 800)


def test_a_prefix_folds_into_the_wider_index_with_the_same_lead() -> None:
    choices = choose.choose([plan(100, t(A, 10)), plan(200, t(AB, 5))], [], 0.5)
    assert [c.candidate.columns for c in choices] == [("a", "b")]
    assert len(choices[0].plans) == 2


def test_a_foreign_key_is_served_by_a_query_index_it_leads() -> None:
    fk = ForeignKey("public", "t", "t_a_fkey", ("a",), 10_000)
    choices = choose.choose([plan(100, t(AB, 5))], [fk], 0.5)
    assert [(c.candidate.columns, len(c.foreign_keys)) for c in choices] == [(("a", "b"), 1)]


def test_a_statement_switches_to_an_option_that_also_serves_the_foreign_key() -> None:
    fk = ForeignKey("public", "t", "t_a_fkey", ("a",), 10_000)
    choices = choose.choose([plan(100, t(BA, 4, 100), t(A, 8, 200))], [fk], 0.5)
    assert [c.candidate for c in choices] == [A]


def test_a_foreign_key_nothing_serves_gets_its_own_index() -> None:
    fk = ForeignKey("public", "t", "t_b_fkey", ("b", "c"), 10_000)
    choices = choose.choose([plan(100, t(A, 5))], [fk], 0.5)
    assert {c.candidate.columns for c in choices} == {("a",), ("b", "c")}


def test_no_chosen_index_is_a_prefix_or_a_copy_of_another() -> None:
    covering = Candidate("public", "t", ("a",), include=("z",))
    choices = choose.choose(
        [plan(100, t(A, 9)), plan(100, t(covering, 9)), plan(100, t(AB, 9))], [], 0.5
    )
    assert [c.candidate for c in choices] == [dataclasses.replace(AB, include=("z",))]


def facts(**kw: object) -> CatalogFacts:
    return CatalogFacts(statements_period_seconds=DAY, stats_age_seconds=DAY, **kw)  # type: ignore[arg-type]


def test_savings_are_per_day_and_an_index_must_pay_for_its_writes() -> None:
    busy = TableStat("public", "u", 0, 1000, 0, 0, 0, 0, 0, 0, 0, True, n_tup_ins=10_000_000)
    quiet = TableStat("public", "t", 0, 1000, 0, 0, 0, 0, 0, 0, 0, True)
    plans = [plan(100, t(A, 10), calls=100, mean=2), plan(100, t(C, 10), calls=100, mean=2)]
    choices = choose.choose(plans, [], 0.5)
    settings = OptimizerSettings(index_write_cost_ms=0.01)
    recs, notes = suggest.index_recommendations(
        choices, plans, facts(tables=(busy, quiet)), settings
    )
    assert [r.table for r in recs] == ["t"]
    assert recs[0].saved_ms_per_day == 100 * 2 * 0.9
    assert "100,000 ms/day in index maintenance" in notes[0]


def test_an_index_the_joint_plan_does_not_use_is_left_out() -> None:
    first = plan(100, t(A, 10))
    joint = dataclasses.replace(first, joint_cost=10, joint_used=())
    choices = choose.choose([first], [], 0.5)
    recs, notes = suggest.index_recommendations(choices, [joint], facts(), OptimizerSettings())
    assert recs == [] and "no longer uses it" in notes[0]


def test_a_partitioned_parent_gets_one_index_built_without_blocking_writes() -> None:
    parts = (
        PartitionLink("public", "t1", "public", "t"),
        PartitionLink("public", "t2", "public", "t"),
    )
    existing = IndexStat("public", "t2", "t2_a", ("a",), "btree", 0, 0)
    plans = [plan(100, t(A, 10))]
    recs, _ = suggest.index_recommendations(
        choose.choose(plans, [], 0.5), plans, facts(partitions=parts, indexes=(existing,)),
        OptimizerSettings(),
    )  # fmt: skip
    assert recs[0].statements == (
        "CREATE INDEX t_a_idx ON ONLY public.t (a);",
        "CREATE INDEX CONCURRENTLY t1_a_idx ON public.t1 (a);",
        "ALTER INDEX public.t_a_idx ATTACH PARTITION public.t1_a_idx;",
        "ALTER INDEX public.t_a_idx ATTACH PARTITION public.t2_a;",
    )
    assert recs[0].undo == (
        "DROP INDEX IF EXISTS public.t_a_idx;",
        "DROP INDEX CONCURRENTLY IF EXISTS public.t1_a_idx;",
    )


def rec(
    kind: Kind, severity: Severity, saved: float | None = None, score: float = 0
) -> Recommendation:
    return Recommendation(kind, severity, "r", saved_ms_per_day=saved, score=score)


def test_ranking_puts_critical_risks_then_time_saved_then_other_kinds() -> None:
    order = ranking.rank(
        [
            rec(Kind.UNUSED_INDEX, Severity.INFO, score=10**9),
            rec(Kind.MISSING_FK_INDEX, Severity.WARNING, score=10**6),
            rec(Kind.MISSING_INDEX, Severity.INFO, saved=5.0),
            rec(Kind.MISSING_INDEX, Severity.WARNING, saved=50_000.0),
            rec(Kind.SEQUENCE_EXHAUSTION, Severity.CRITICAL, score=0.95),
            rec(Kind.STALE_STATISTICS, Severity.WARNING),
        ]
    )
    assert [(r.kind.value, r.saved_ms_per_day) for r in order] == [
        ("sequence_exhaustion", None),
        ("missing_index", 50_000.0),
        ("missing_index", 5.0),
        ("stale_statistics", None),
        ("missing_fk_index", None),
        ("unused_index", None),
    ]
