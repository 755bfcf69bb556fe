"""The planner's row estimates checked against what pg_stat_statements saw (pure).

A generic plan (parameters unknown) estimates rows from pg_stats: with statistics
taken before the data changed (``n_distinct = 1`` for a column that has since taken
thousands of values), it expects every row, no index can beat a sequential scan on
paper, and HypoPG proves nothing. pg_stat_statements knows the truth: ``rows / calls``.
When the two disagree by orders of magnitude, the statement is planned again with
parameter values chosen from pg_stats so that the planner expects about the observed
rows (:func:`probe_values`), candidate indexes are tested that way, and, when the
table changed since its last ANALYZE, a ``stale_statistics`` recommendation carries
the evidence and the ``ANALYZE`` to run (:func:`stale_statistics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from personal_assistant.optimizer.identifiers import qualified
from personal_assistant.optimizer.models import Kind, Recommendation, Severity, TableStat
from personal_assistant.optimizer.statements import Estimate, StatementPlan, shorten

#: Plan nodes that pass their input's rows through unchanged (for this comparison).
_PASS_THROUGH = frozenset(
    {"ModifyTable", "LockRows", "Sort", "Incremental Sort", "Materialize", "Result"}
)
_SCANS = frozenset(
    {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Gather", "Gather Merge"}
)
#: Values tried per parameter, and combinations tried per statement.
_VALUES_PER_PARAM = 4
MAX_COMBINATIONS = 12


@dataclass(frozen=True)
class Scan:
    """The single-table scan whose output a statement returns (or modifies)."""

    schema: str
    table: str
    rows: float


def scan_of(plan: Mapping[str, Any]) -> Scan | None:
    """The scan a statement's rows come from; None for joins, aggregates, limits."""
    node = plan
    while node.get("Node Type") in _PASS_THROUGH and len(node.get("Plans", [])) == 1:
        node = node["Plans"][0]
    if node.get("Node Type") not in _SCANS:
        return None
    rows = float(node.get("Plan Rows", 0))
    while "Relation Name" not in node and len(node.get("Plans", [])) == 1:
        node = node["Plans"][0]  # Gather -> Parallel Seq Scan
    if "Relation Name" not in node or "Schema" not in node:
        return None
    return Scan(str(node["Schema"]), str(node["Relation Name"]), rows)


@dataclass(frozen=True)
class ColumnStats:
    """What pg_stats holds for one column (values as text)."""

    mcv: tuple[str, ...] = ()
    freqs: tuple[float, ...] = ()
    histogram: tuple[str, ...] = ()
    #: PostgreSQL's type category: "N" numeric, "S" string, ...
    category: str = ""


def probe_values(stats: ColumnStats) -> list[str]:
    """Values to try for a parameter compared with this column, most promising first.

    A value outside the most-common list (where the planner assumes a rare value:
    what a statement returning few rows per call most likely asked for), then the
    histogram's middle and ends (for ranges), then the rarest and commonest
    most-common values.
    """
    out: list[str] = []
    if stats.histogram:
        middle = stats.histogram[len(stats.histogram) // 2]
        out += [middle, stats.histogram[0], stats.histogram[-1]]
    elif (outside := _outside_mcv(stats)) is not None:
        out.append(outside)
    if stats.mcv:
        by_freq = sorted(zip(stats.freqs, stats.mcv, strict=False))
        out += [by_freq[0][1], by_freq[-1][1]]
    return list(dict.fromkeys(out))[:_VALUES_PER_PARAM]


def _outside_mcv(stats: ColumnStats) -> str | None:
    """A value of the column's type that is not among the most common ones."""
    if stats.category == "N":
        try:
            numbers = [float(v) for v in stats.mcv]
        except ValueError:
            return None
        top = max(numbers, default=0.0)
        return str(int(top) + 1) if all(n.is_integer() for n in numbers) else str(top + 1)
    if stats.category == "S":
        value = "pa-optimizer-probe"
        while value in stats.mcv:
            value += "~"
        return value
    return None


def distance(estimated: float, observed: float) -> float:
    """How far an estimate is from what was observed, in orders of magnitude."""
    return abs(math.log10(max(estimated, 1.0) / max(observed, 1.0)))


def stale_statistics(
    plans: Sequence[StatementPlan],
    tables: Sequence[TableStat],
    ratio: float,
    min_mod_ratio: float,
    now: datetime | None = None,
) -> list[Recommendation]:
    """One ``stale_statistics`` per table whose statistics mislead a top statement."""
    by_name = {(t.schema, t.name): t for t in tables}
    found: dict[tuple[str, str], list[StatementPlan]] = {}
    for plan in plans:
        est = plan.estimate
        if est is None or est.ratio < ratio:
            continue
        table = by_name.get((est.schema, est.table))
        if table is not None and _changed_since_analyze(table, min_mod_ratio):
            found.setdefault((est.schema, est.table), []).append(plan)
    when = now or datetime.now(UTC)
    return [_recommendation(by_name[key], found[key], when) for key in sorted(found)]


def _changed_since_analyze(table: TableStat, min_mod_ratio: float) -> bool:
    if not table.ever_analyzed:
        return True
    return table.mod_since_analyze >= max(1.0, min_mod_ratio * table.live_tuples)


def _recommendation(table: TableStat, plans: list[StatementPlan], now: datetime) -> Recommendation:
    worst = max(plans, key=lambda p: p.statement.total_time_ms)
    est = worst.estimate
    assert est is not None  # only plans with an estimate get here
    last = table.last_analyzed
    age = f"last analyzed {_ago(now - last)} ago" if last else "never analyzed"
    share = table.mod_since_analyze / table.live_tuples if table.live_tuples else 0.0
    return Recommendation(
        kind=Kind.STALE_STATISTICS,
        severity=Severity.WARNING,
        reason=f"the planner expects {est.estimated_rows:,.0f} row(s) per call of "
        f"{shorten(worst.statement.query, 90)!r} but pg_stat_statements saw "
        f"{est.observed_rows:,.1f} ({worst.statement.calls:,} calls): {age}, "
        f"{table.mod_since_analyze:,} rows ({share:.0%}) changed since; plans (and index "
        f"choices) built on these statistics are wrong until it is analyzed"
        + (f"; {len(plans)} statement(s) affected" if len(plans) > 1 else ""),
        sql=f"ANALYZE {qualified(table.schema, table.name)};",
        schema=table.schema,
        table=table.name,
        score=sum(p.statement.total_time_ms for p in plans),
    )


def _ago(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def mismatch(plan: Mapping[str, Any], observed_rows: float) -> Estimate | None:
    """The generic plan's scan estimate against the observed rows per call."""
    scan = scan_of(plan)
    if scan is None:
        return None
    return Estimate(scan.schema, scan.table, scan.rows, observed_rows)
