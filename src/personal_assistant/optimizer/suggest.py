"""Turn HypoPG results into ranked ``missing_index`` recommendations (pure).

A candidate is recommended for a statement only when its hypothetical index cuts
the statement's estimated cost by ``min_reduction`` (Dexter's 50 % by default). Of
the candidates that do, the narrowest one within 10 % of the best cost wins: a pair
index that barely beats a single column is not worth its extra size. Suggestions
shared by several statements are merged and ranked by the total time they would
save: calls x mean time x the estimated share of cost removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from personal_assistant.optimizer.identifiers import column_list, qualified
from personal_assistant.optimizer.models import (
    Candidate,
    Kind,
    Recommendation,
    Severity,
    StatementPlan,
)

#: A wider index must beat the best narrower one by more than this to be preferred.
_NARROWER_SLACK = 1.10


@dataclass
class _Gain:
    saved_ms: float
    before: float
    after: float
    statements: int
    query: str


def best_candidate(plan: StatementPlan, min_reduction: float) -> tuple[Candidate, float] | None:
    """The candidate to recommend for one statement, with its estimated cost."""
    if plan.cost is None or plan.cost <= 0:
        return None
    limit = plan.cost * (1 - min_reduction)
    good = [(c, cost) for c, cost in plan.hypothetical if cost <= limit]
    if not good:
        return None
    best = min(cost for _, cost in good)
    near = [(c, cost) for c, cost in good if cost <= best * _NARROWER_SLACK]
    return min(near, key=lambda item: (len(item[0].columns), item[1]))


def index_suggestions(plans: Iterable[StatementPlan], min_reduction: float) -> list[Recommendation]:
    gains: dict[Candidate, _Gain] = {}
    for plan in plans:
        chosen = best_candidate(plan, min_reduction)
        if chosen is None or plan.cost is None:
            continue
        candidate, after = chosen
        stmt = plan.statement
        saved = stmt.calls * stmt.mean_time_ms * (1 - after / plan.cost)
        gain = gains.get(candidate)
        if gain is None:
            gains[candidate] = _Gain(saved, plan.cost, after, 1, stmt.query)
            continue
        gain.statements += 1
        if saved > gain.saved_ms:
            gain.before, gain.after, gain.query = plan.cost, after, stmt.query
        gain.saved_ms += saved
    _fold_prefixes(gains)
    recs = [_recommendation(c, g) for c, g in gains.items()]
    return sorted(recs, key=lambda r: -r.score)


def _fold_prefixes(gains: dict[Candidate, _Gain]) -> None:
    """Drop a single-column suggestion when a suggested pair starts with that column."""
    for candidate in list(gains):
        if len(candidate.columns) != 1:
            continue
        wider = [
            c
            for c in gains
            if len(c.columns) > 1
            and (c.schema, c.table) == (candidate.schema, candidate.table)
            and c.columns[0] == candidate.columns[0]
        ]
        if wider:
            gain = gains.pop(candidate)
            gains[wider[0]].saved_ms += gain.saved_ms
            gains[wider[0]].statements += gain.statements


def _recommendation(candidate: Candidate, gain: _Gain) -> Recommendation:
    reduction = 1 - gain.after / gain.before
    return Recommendation(
        kind=Kind.MISSING_INDEX,
        severity=Severity.WARNING if gain.saved_ms >= 1000 else Severity.INFO,
        reason=f"a hypothetical index (HypoPG) cuts the estimated cost from "
        f"{gain.before:,.1f} to {gain.after:,.1f} ({reduction:.0%} less) for "
        f"{gain.statements} statement(s), about {gain.saved_ms:,.0f} ms of recorded "
        f"execution time; e.g. {gain.query[:160]}",
        sql=f"CREATE INDEX CONCURRENTLY ON {qualified(candidate.schema, candidate.table)} "
        f"{column_list(candidate.columns)};",
        schema=candidate.schema,
        table=candidate.table,
        columns=candidate.columns,
        estimated_cost_before=round(gain.before, 2),
        estimated_cost_after=round(gain.after, 2),
        score=gain.saved_ms,
    )
