"""Choosing and ranking index suggestions from HypoPG costs (pure)."""

from __future__ import annotations

from personal_assistant.optimizer.models import Candidate, StatementPlan, StatementStat
from personal_assistant.optimizer.suggest import best_candidate, index_suggestions

A = Candidate("public", "t", ("a",))
AB = Candidate("public", "t", ("a", "b"))
C = Candidate("public", "u", ("c",))


def plan(cost: float, *tested: tuple[Candidate, float], calls: int = 10, mean: float = 5.0):
    stmt = StatementStat(hash(tested) & 0xFFFF, "q", calls, calls * mean, mean)
    return StatementPlan(stmt, cost, hypothetical=tested)


def test_a_candidate_must_halve_the_cost_by_default() -> None:
    assert best_candidate(plan(100, (A, 51)), 0.5) is None
    assert best_candidate(plan(100, (A, 50)), 0.5) == (A, 50)


def test_the_narrowest_index_within_ten_percent_of_the_best_wins() -> None:
    assert best_candidate(plan(100, (A, 10), (AB, 9.5)), 0.5) == (A, 10)
    assert best_candidate(plan(100, (A, 10), (AB, 2)), 0.5) == (AB, 2)


def test_suggestions_are_ranked_by_time_saved_and_carry_costs() -> None:
    recs = index_suggestions(
        [plan(100, (A, 10), calls=10, mean=5), plan(100, (C, 10), calls=1000, mean=5)], 0.5
    )
    assert [r.table for r in recs] == ["u", "t"]
    assert (recs[0].estimated_cost_before, recs[0].estimated_cost_after) == (100, 10)
    assert recs[0].sql == "CREATE INDEX CONCURRENTLY ON public.u (c);"


def test_a_single_column_suggestion_folds_into_a_pair_with_the_same_lead() -> None:
    recs = index_suggestions([plan(100, (A, 10)), plan(200, (AB, 5))], 0.5)
    assert [r.columns for r in recs] == [("a", "b")]
