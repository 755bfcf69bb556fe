"""Statement-level data: what pg_stat_statements recorded, and what planning found.

Frozen dataclasses only, so the pure parts (:mod:`.candidates`, :mod:`.choose`,
:mod:`.suggest`) can be tested by building them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from personal_assistant.optimizer.identifiers import column_list, qualified, quote


@dataclass(frozen=True)
class StatementStat:
    """One normalized statement from pg_stat_statements (times in milliseconds)."""

    queryid: int
    query: str
    calls: int
    total_time_ms: float
    mean_time_ms: float
    rows: int = 0

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0


def shorten(query: str, width: int = 100) -> str:
    """``query`` on one line, cut to ``width`` characters: how notes name a statement."""
    flat = " ".join(query.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@dataclass(frozen=True)
class ColumnUse:
    """A column (or an expression over one) a statement filters, joins or sorts on.

    ``usage`` is "eq", "range", "join", "sort", "like" (``LIKE``/``ILIKE`` with a
    pattern the planner cannot see) or "null" (``IS NULL``/``IS NOT NULL``, the
    predicate in ``predicate``). ``expression`` is the SQL of an expression key
    (``lower(email)``); ``param`` the ``$n`` compared with it, when there is one.
    """

    schema: str
    table: str
    column: str
    usage: str
    expression: str | None = None
    predicate: str | None = None
    param: int | None = None


@dataclass(frozen=True)
class Candidate:
    """An index worth testing on ``schema.table``.

    Keys are ``columns`` (plain names, in order) or one ``expression``; ``opclass``
    applies to every key (``gin_trgm_ops``); ``predicate`` makes it partial.
    """

    schema: str
    table: str
    columns: tuple[str, ...]
    method: str = "btree"
    expression: str | None = None
    opclass: str | None = None
    include: tuple[str, ...] = ()
    predicate: str | None = None

    @property
    def plain(self) -> bool:
        """A full btree over plain columns: what foreign keys and prefix rules look at."""
        return self.method == "btree" and self.expression is None and self.predicate is None

    def keys_sql(self) -> str:
        if self.expression is not None:
            keys = [f"({self.expression})"]
        else:
            keys = [quote(c) for c in self.columns]
        if self.opclass:
            keys = [f"{k} {self.opclass}" for k in keys]
        return "(" + ", ".join(keys) + ")"

    def definition(self) -> str:
        """What follows ``ON table``: method, keys, INCLUDE and WHERE."""
        out = ("" if self.method == "btree" else f"USING {self.method} ") + self.keys_sql()
        if self.include:
            out += f" INCLUDE {column_list(self.include)}"
        if self.predicate:
            out += f" WHERE {self.predicate}"
        return out

    def hypothetical_ddl(self) -> str:
        return f"CREATE INDEX ON {qualified(self.schema, self.table)} {self.definition()}"

    @property
    def label(self) -> str:
        return f"{qualified(self.schema, self.table)} {self.definition()}"

    @property
    def width(self) -> int:
        return len(self.columns) + len(self.include) + (self.expression is not None)


@dataclass(frozen=True)
class Trial:
    """A candidate's estimated cost for one statement, and its estimated size."""

    candidate: Candidate
    cost: float
    size_bytes: int | None = None


@dataclass(frozen=True)
class Estimate:
    """The planner's row estimate for a statement's scan against what was observed.

    ``estimated_rows`` is the generic plan's (parameters unknown). When the two
    disagree by orders of magnitude, the statement is planned again with ``values``
    for its parameters, chosen from pg_stats so that the planner expects about the
    observed rows (``value_rows``); the candidate indexes are then tested that way.
    """

    schema: str
    table: str
    estimated_rows: float
    observed_rows: float
    values: tuple[str | None, ...] = ()
    value_rows: float | None = None

    @property
    def ratio(self) -> float:
        high = max(self.estimated_rows, self.observed_rows)
        return high / max(min(self.estimated_rows, self.observed_rows), 1.0)

    @property
    def planned_with(self) -> str:
        return "observed values" if self.values else "generic"


@dataclass(frozen=True)
class StatementPlan:
    """The estimated plan of a top statement, and what indexes did to it."""

    statement: StatementStat
    cost: float | None
    node_types: tuple[str, ...] = ()
    columns: tuple[ColumnUse, ...] = ()
    error: str | None = None
    hypothetical: tuple[Trial, ...] = ()
    estimate: Estimate | None = None
    #: With the chosen index set held at once: the cost, and the hypothetical
    #: indexes the plan used (filled in by the joint check).
    joint_cost: float | None = None
    joint_used: tuple[Candidate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        est = self.estimate
        return {
            "queryid": self.statement.queryid,
            "query": self.statement.query,
            "calls": self.statement.calls,
            "rows": self.statement.rows,
            "total_time_ms": round(self.statement.total_time_ms, 3),
            "mean_time_ms": round(self.statement.mean_time_ms, 3),
            "estimated_cost": self.cost,
            "estimated_rows": est.estimated_rows if est else None,
            "planned_with": est.planned_with if est else "generic",
            "plan_nodes": list(self.node_types),
            "columns": [f"{c.schema}.{c.table}.{c.column} ({c.usage})" for c in self.columns],
            "error": self.error,
        }
