"""Choose one consistent set of indexes from every candidate at once (pure).

Each statement's candidates were tested one by one (:mod:`.hypo`); foreign keys
without a supporting index add theirs. Chosen independently they contradict each
other: ``(customer_id)`` for a foreign key next to ``(customer_id, rental_date)`` for
a query, which the next report calls redundant. Here they are chosen together:

1. each statement takes its best candidate: among those cutting the cost by the
   threshold, the smallest (HypoPG's size estimate) of those nearly as good as the
   best: at least 90 % of its saving, and a remaining cost the best would not cut by
   the threshold again (with a 10 % margin), so that the next report, with the
   chosen index built, does not ask for the better one;
2. a foreign key is served by a chosen full btree whose leading columns are the
   key's (in any order), or by switching one of its table's statements to such an
   option when that still passes; only otherwise does it get its own index;
3. a btree whose columns lead a wider chosen one with the same predicate is folded
   into it (its INCLUDE columns carried over), so no chosen index is a prefix,
   duplicate or redundant copy of another.

:func:`.hypo.check_set` then plans every statement with the whole set present, and
:mod:`.suggest` keeps what the planner uses and what pays for its writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from personal_assistant.optimizer.models import ForeignKey, IndexStat
from personal_assistant.optimizer.statements import Candidate, StatementPlan, Trial

#: A candidate saving this share of the best saving counts as good as the best...
NEAR_SAVING = 0.90
#: ...when the best would cut its remaining cost by less than the threshold, with
#: this margin (then the smallest wins).
NEAR_MARGIN = 0.90


@dataclass(frozen=True)
class Choice:
    """One index of the chosen set, with the statements and foreign keys it serves."""

    candidate: Candidate
    plans: tuple[StatementPlan, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


def passing(plan: StatementPlan, min_reduction: float) -> list[Trial]:
    """The candidates that cut ``plan``'s estimated cost by at least ``min_reduction``."""
    if plan.cost is None or plan.cost <= 0:
        return []
    limit = plan.cost * (1 - min_reduction)
    return [t for t in plan.hypothetical if t.cost <= limit]


def best(plan: StatementPlan, min_reduction: float) -> Trial | None:
    """The smallest passing candidate nearly as good as the best (see the docstring)."""
    good = passing(plan, min_reduction)
    if not good or plan.cost is None:
        return None
    lowest = min(t.cost for t in good)
    saving = plan.cost - lowest
    ceiling = lowest / (1 - min_reduction) * NEAR_MARGIN
    near = [
        t
        for t in good
        if t.cost == lowest or (plan.cost - t.cost >= saving * NEAR_SAVING and t.cost < ceiling)
    ]
    return min(near, key=lambda t: (_size(t), t.candidate.width, t.cost))


def _size(tested: Trial) -> float:
    return float(tested.size_bytes) if tested.size_bytes is not None else float("inf")


def serves(candidate: Candidate, fk: ForeignKey) -> bool:
    """Whether an index on ``candidate`` supports ``fk``'s lookups (leading columns)."""
    width = len(fk.columns)
    return (
        (candidate.schema, candidate.table) == (fk.schema, fk.table)
        and candidate.plain
        and set(candidate.columns[:width]) == set(fk.columns)
        and len(candidate.columns) >= width
    )


def fk_needs(
    fks: Iterable[ForeignKey], indexes: Sequence[IndexStat], min_rows: int
) -> list[ForeignKey]:
    """Foreign keys on tables of ``min_rows`` or more that no valid full index supports."""
    out = []
    for fk in fks:
        if fk.table_rows < min_rows:
            continue
        if not any(_supports(i, fk) for i in indexes):
            out.append(fk)
    return out


def _supports(index: IndexStat, fk: ForeignKey) -> bool:
    lead = index.columns[: len(fk.columns)]
    return (
        (index.schema, index.table) == (fk.schema, fk.table)
        and index.is_valid
        and index.predicate is None
        and len(lead) == len(fk.columns)
        and set(lead) == set(fk.columns)
    )


def choose(
    plans: Sequence[StatementPlan], needs: Sequence[ForeignKey], min_reduction: float
) -> list[Choice]:
    """The chosen set: one entry per distinct index, most statements first."""
    assigned: dict[int, Candidate] = {}
    for number, plan in enumerate(plans):
        if (picked := best(plan, min_reduction)) is not None:
            assigned[number] = picked.candidate
    fk_of: dict[Candidate, list[ForeignKey]] = {}
    for fk in needs:
        candidate = _serve(fk, plans, assigned, fk_of, min_reduction)
        fk_of.setdefault(candidate, []).append(fk)
    mapping = fold([*assigned.values(), *fk_of])
    by_candidate: dict[Candidate, tuple[list[StatementPlan], list[ForeignKey]]] = {}
    for number, candidate in assigned.items():
        by_candidate.setdefault(mapping[candidate], ([], []))[0].append(plans[number])
    for candidate, fks in fk_of.items():
        by_candidate.setdefault(mapping[candidate], ([], []))[1].extend(fks)
    choices = [Choice(c, tuple(p), tuple(f)) for c, (p, f) in by_candidate.items()]
    return sorted(choices, key=lambda c: (-len(c.plans), c.candidate.label))


def _serve(
    fk: ForeignKey,
    plans: Sequence[StatementPlan],
    assigned: dict[int, Candidate],
    fk_of: dict[Candidate, list[ForeignKey]],
    min_reduction: float,
) -> Candidate:
    """The chosen index that serves ``fk``: an existing choice, a switch, or its own."""
    for candidate in [*assigned.values(), *fk_of]:
        if serves(candidate, fk):
            return candidate
    for number, candidate in list(assigned.items()):
        if (candidate.schema, candidate.table) != (fk.schema, fk.table):
            continue
        options = [t for t in passing(plans[number], min_reduction) if serves(t.candidate, fk)]
        if options:
            switched = min(options, key=lambda t: (t.cost, t.candidate.width)).candidate
            assigned[number] = switched
            return switched
    return Candidate(fk.schema, fk.table, fk.columns)


def fold(candidates: Iterable[Candidate]) -> dict[Candidate, Candidate]:
    """Each candidate -> the chosen index standing for it (itself, or a wider one).

    A btree whose columns lead a wider chosen btree with the same predicate is served
    by it: keeping both would leave a redundant prefix. The wider one takes on the
    narrower one's INCLUDE columns, so an index-only scan it earned is not lost.
    """
    unique = list(dict.fromkeys(candidates))
    target = {c: c for c in unique}
    for narrow in sorted(unique, key=lambda c: len(c.columns)):
        wider = [w for w in unique if w != narrow and _leads(narrow, w)]
        if wider:
            target[narrow] = max(wider, key=_breadth)
    # Follow chains (a) -> (a, b) -> (a, b, c), then merge INCLUDE lists.
    final = {c: _root(c, target) for c in unique}
    merged: dict[Candidate, Candidate] = {}
    for root in set(final.values()):
        members = [c for c, r in final.items() if r == root]
        include = sorted({col for m in members for col in m.include} - set(root.columns))
        merged[root] = replace(root, include=tuple(include))
    return {c: merged[final[c]] for c in unique}


def _breadth(c: Candidate) -> tuple[int, int, tuple[str, ...], tuple[str, ...]]:
    return (len(c.columns), len(c.include), c.columns, c.include)


def _leads(narrow: Candidate, wide: Candidate) -> bool:
    """``wide`` serves ``narrow``: a longer key led by its key, or the same key with
    more INCLUDE columns (the same predicate, plain btree columns)."""
    return (
        (narrow.schema, narrow.table) == (wide.schema, wide.table)
        and narrow.method == wide.method == "btree"
        and narrow.expression is None
        and wide.expression is None
        and narrow.predicate == wide.predicate
        and wide.columns[: len(narrow.columns)] == narrow.columns
        and _breadth(wide) > _breadth(narrow)
    )


def _root(candidate: Candidate, target: dict[Candidate, Candidate]) -> Candidate:
    seen = {candidate}
    while target[candidate] != candidate and target[candidate] not in seen:
        candidate = target[candidate]
        seen.add(candidate)
    return candidate
