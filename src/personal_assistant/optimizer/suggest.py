"""Turn the chosen index set into ``missing_index``/``missing_fk_index`` recommendations (pure).

An index of the set (:mod:`.choose`) is recommended when, with the whole set held
by HypoPG at once (:func:`.hypo.check_set`), the planner uses it for a statement and
that statement's cost still drops by the threshold, or when it supports a foreign
key. Its benefit is the execution time it saves per day: calls x mean time x the
share of cost removed, summed over the statements using it (split evenly when a plan
uses several new indexes) and extrapolated from the period the counters cover. Its
price is the index maintenance per day: the table's index writes per day (inserts
plus non-HOT updates, from the cumulative statistics) times ``index_write_cost_ms``.
An index only for statements that would not pay for its writes is left out, with a
note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from personal_assistant.optimizer import ddl
from personal_assistant.optimizer.choose import Choice
from personal_assistant.optimizer.identifiers import column_list, qualified
from personal_assistant.optimizer.models import (
    CatalogFacts,
    IndexStat,
    Kind,
    PartitionLink,
    Recommendation,
    Severity,
)
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.optimizer.statements import Candidate, StatementPlan, shorten

DAY_SECONDS = 86_400.0
#: A suggestion saving at least this much per day is a warning, else info.
WARNING_MS_PER_DAY = 10_000.0


@dataclass(frozen=True)
class Gain:
    """What one statement gains from one index of the set."""

    plan: StatementPlan
    before: float
    after: float
    saved_ms: float


def per_day(facts: CatalogFacts) -> float:
    """Factor from the counters' period to a day (1 when the period is unknown)."""
    period = facts.statements_period_seconds or facts.stats_age_seconds
    return DAY_SECONDS / period if period and period > 0 else 1.0


def gain(plan: StatementPlan, candidate: Candidate, min_reduction: float) -> Gain | None:
    """The statement's saving from ``candidate`` with the whole set present, if proven."""
    if plan.cost is None or plan.cost <= 0:
        return None
    if plan.joint_cost is not None:
        if candidate not in plan.joint_used:
            return None
        after, share = plan.joint_cost, 1 / len(plan.joint_used)
    else:
        tested = [t for t in plan.hypothetical if t.candidate == candidate]
        if not tested:
            return None
        after, share = tested[0].cost, 1.0
    if after > plan.cost * (1 - min_reduction):
        return None
    stmt = plan.statement
    saved = stmt.calls * stmt.mean_time_ms * (1 - after / plan.cost) * share
    return Gain(plan, plan.cost, after, saved)


def index_recommendations(
    choices: Sequence[Choice],
    plans: Sequence[StatementPlan],
    facts: CatalogFacts,
    settings: OptimizerSettings,
) -> tuple[list[Recommendation], list[str]]:
    """Recommendations for the chosen set (``plans`` after the joint check), and notes."""
    joint = {p.statement.queryid: p for p in plans}
    names = ddl.Names.of(((t.schema, t.name) for t in facts.tables), facts.indexes)
    factor = per_day(facts)
    recs: list[Recommendation] = []
    notes: list[str] = []
    for choice in choices:
        candidate = choice.candidate
        gains = [
            g
            for p in choice.plans
            if (
                g := gain(joint.get(p.statement.queryid, p), candidate, settings.min_cost_reduction)
            )
        ]
        writes = index_writes_per_day(facts, candidate.schema, candidate.table)
        write_cost = writes * settings.index_write_cost_ms if writes is not None else None
        saved = sum(g.saved_ms for g in gains) * factor if gains else None
        if not choice.foreign_keys:
            if saved is None:
                notes.append(_unused_note(choice))
                continue
            if writes is not None and write_cost is not None and saved <= write_cost:
                notes.append(
                    f"not suggested: {candidate.label} would save about {saved:,.0f} ms/day "
                    f"but cost about {write_cost:,.0f} ms/day in index maintenance "
                    f"({writes:,.0f} row writes/day)"
                )
                continue
        build = ddl.create_statements(candidate, names, facts.partitions, facts.indexes)
        recs.append(_recommendation(choice, gains, saved, write_cost, build, facts))
    return recs, notes


def _unused_note(choice: Choice) -> str:
    query = shorten(choice.plans[0].statement.query, 80)
    return (
        f"not suggested: {choice.candidate.label}: with the other suggested indexes "
        f"present the planner no longer uses it (enough) for {query!r}"
    )


def index_writes_per_day(facts: CatalogFacts, schema: str, table: str) -> float | None:
    """Rows written to each index of ``schema.table`` per day (partitions summed).

    Measured over the table snapshot window when there is one; else over the
    cumulative statistics once they cover a day (a bulk load right after a reset
    would otherwise pass for the daily rate); else unknown (None).
    """
    leaves = set(_leaves(schema, table, facts.partitions))
    if (window := facts.table_writes) is not None and window.seconds > 0:
        writes = sum(n for key, n in window.writes.items() if key in leaves)
        return writes * DAY_SECONDS / window.seconds
    age = facts.stats_age_seconds
    if age is None or age < DAY_SECONDS:
        return None
    writes = sum(t.index_writes for t in facts.tables if (t.schema, t.name) in leaves)
    return writes * DAY_SECONDS / age


def _leaves(schema: str, table: str, partitions: Sequence[PartitionLink]) -> list[tuple[str, str]]:
    kids = [p for p in partitions if (p.parent_schema, p.parent) == (schema, table)]
    if not kids:
        return [(schema, table)]
    return [leaf for kid in kids for leaf in _leaves(kid.schema, kid.table, partitions)]


def _recommendation(
    choice: Choice,
    gains: list[Gain],
    saved: float | None,
    write_cost: float | None,
    build: ddl.Build,
    facts: CatalogFacts,
) -> Recommendation:
    candidate = choice.candidate
    parts = []
    if gains:
        top = max(gains, key=lambda g: g.saved_ms)
        parts.append(
            f"with it (HypoPG, together with the other suggested indexes) the estimated "
            f"cost of {len(gains)} statement(s) drops, e.g. from {top.before:,.1f} to "
            f"{top.after:,.1f} ({1 - top.after / top.before:.0%} less) for "
            f"{shorten(top.plan.statement.query, 100)!r}"
        )
        if any(g.plan.estimate and g.plan.estimate.values for g in gains):
            parts.append(
                "planned with parameter values matching the rows pg_stat_statements saw "
                "(the table's statistics are stale: see stale_statistics)"
            )
        upkeep = (
            f"index maintenance about {write_cost:,.0f} ms/day"
            if write_cost is not None
            else "index maintenance not weighed (no table snapshot an hour old yet, "
            "and the statistics cover less than a day: run pa-db optimize --snapshot hourly)"
        )
        parts.append(f"about {saved or 0:,.0f} ms/day of execution time saved, {upkeep}")
    for fk in choice.foreign_keys:
        parts.append(
            f"supports foreign key {fk.name!r} {column_list(fk.columns)}: without it every "
            f"delete or key update in the referenced table scans all {fk.table_rows:,} rows"
        )
    parts += _side_effects(candidate, facts)
    top_gain = max(gains, key=lambda g: g.saved_ms) if gains else None
    return Recommendation(
        kind=Kind.MISSING_INDEX if gains else Kind.MISSING_FK_INDEX,
        severity=_severity(saved, bool(choice.foreign_keys)),
        reason="; ".join(parts),
        sql="\n".join(build.statements),
        statements=build.statements,
        undo=tuple(ddl.undo_statements(build.creates)),
        schema=candidate.schema,
        table=candidate.table,
        index=build.creates[0][1],
        columns=(candidate.expression,) if candidate.expression else candidate.columns,
        estimated_cost_before=round(top_gain.before, 2) if top_gain else None,
        estimated_cost_after=round(top_gain.after, 2) if top_gain else None,
        score=saved if saved is not None else float(max(f.table_rows for f in choice.foreign_keys)),
        saved_ms_per_day=saved,
        write_cost_ms_per_day=write_cost,
    )


def _severity(saved: float | None, foreign_key: bool) -> Severity:
    if foreign_key or (saved is not None and saved >= WARNING_MS_PER_DAY):
        return Severity.WARNING
    return Severity.INFO


def _side_effects(candidate: Candidate, facts: CatalogFacts) -> list[str]:
    out = []
    if any(p.parent_schema == candidate.schema and p.parent == candidate.table
           for p in facts.partitions):  # fmt: skip
        out.append(
            "a partitioned table: built on the parent with ON ONLY, then CONCURRENTLY on "
            "each partition and attached, so writes are never blocked"
        )
    for index in _made_redundant(candidate, facts.indexes):
        out.append(
            f"existing index {index.name!r} {column_list(index.columns)} becomes "
            f"redundant with it (a prefix of its columns): drop it afterwards "
            f"(DROP INDEX CONCURRENTLY {qualified(index.schema, index.name)})"
        )
    return out


def _made_redundant(candidate: Candidate, indexes: Sequence[IndexStat]) -> list[IndexStat]:
    if not candidate.plain:
        return []
    width = len(candidate.columns)
    return [
        i
        for i in indexes
        if (i.schema, i.table) == (candidate.schema, candidate.table)
        and i.access_method == "btree"
        and i.is_valid
        and i.predicate is None
        and not (i.is_unique or i.is_primary or i.backs_constraint)
        and i.attached_to is None
        and not i.include
        and i.columns != (*candidate.columns, *candidate.include)
        and (*candidate.columns, *candidate.include)[: len(i.columns)] == i.columns
        and len(i.columns) <= width
    ]
