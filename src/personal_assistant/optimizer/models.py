"""The optimizer's data: catalog facts in, recommendations out.

Everything here is a frozen dataclass, so the pure rules (:mod:`.rules`,
:mod:`.candidates`) can be tested by building these by hand, without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What a recommendation is about; the values are the public names."""

    MISSING_INDEX = "missing_index"
    MISSING_FK_INDEX = "missing_fk_index"
    DUPLICATE_INDEX = "duplicate_index"
    REDUNDANT_INDEX = "redundant_index"
    UNUSED_INDEX = "unused_index"
    INVALID_INDEX = "invalid_index"
    MISSING_PRIMARY_KEY = "missing_primary_key"
    VACUUM_NEEDED = "vacuum_needed"
    ANALYZE_NEEDED = "analyze_needed"
    SEQUENCE_EXHAUSTION = "sequence_exhaustion"
    TABLE_BLOAT = "table_bloat"
    LOW_CACHE_HIT_RATIO = "low_cache_hit_ratio"
    SLOW_QUERY = "slow_query"


class Severity(StrEnum):
    """How urgently to act: ``critical`` first, ``info`` when convenient."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


#: Kinds ``apply()`` will run: non-blocking builds and routine maintenance only.
#: Drops and table rewrites are left to a person (see docs/performance-optimization.md).
SAFE_KINDS = frozenset(
    {Kind.MISSING_INDEX, Kind.MISSING_FK_INDEX, Kind.VACUUM_NEEDED, Kind.ANALYZE_NEEDED}
)


@dataclass(frozen=True)
class TableStat:
    """One user table: size, tuple counts, scan counts and maintenance history."""

    schema: str
    name: str
    size_bytes: int
    live_tuples: int
    dead_tuples: int
    seq_scan: int
    seq_tup_read: int
    idx_scan: int
    mod_since_analyze: int
    heap_blks_hit: int
    heap_blks_read: int
    has_primary_key: bool
    is_partitioned_child: bool = False
    last_vacuum: datetime | None = None
    last_autovacuum: datetime | None = None
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None

    @property
    def dead_ratio(self) -> float:
        total = self.live_tuples + self.dead_tuples
        return self.dead_tuples / total if total else 0.0

    @property
    def cache_hit_ratio(self) -> float | None:
        """Share of heap block requests served from shared buffers (None: never read)."""
        total = self.heap_blks_hit + self.heap_blks_read
        return self.heap_blks_hit / total if total else None

    @property
    def ever_analyzed(self) -> bool:
        return self.last_analyze is not None or self.last_autoanalyze is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.name,
            "size_bytes": self.size_bytes,
            "live_tuples": self.live_tuples,
            "dead_tuples": self.dead_tuples,
            "dead_ratio": round(self.dead_ratio, 4),
            "seq_scan": self.seq_scan,
            "seq_tup_read": self.seq_tup_read,
            "idx_scan": self.idx_scan,
            "cache_hit_ratio": self.cache_hit_ratio,
            "last_vacuum": _iso(self.last_vacuum),
            "last_autovacuum": _iso(self.last_autovacuum),
            "last_analyze": _iso(self.last_analyze),
            "last_autoanalyze": _iso(self.last_autoanalyze),
        }


@dataclass(frozen=True)
class IndexStat:
    """One index with its key columns (expressions rendered as SQL) and usage."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    access_method: str
    size_bytes: int
    scans: int
    is_unique: bool = False
    is_primary: bool = False
    is_valid: bool = True
    backs_constraint: bool = False
    predicate: str | None = None
    include: tuple[str, ...] = ()
    being_built: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "index": self.name,
            "columns": list(self.columns),
            "access_method": self.access_method,
            "size_bytes": self.size_bytes,
            "scans": self.scans,
            "unique": self.is_unique,
            "primary": self.is_primary,
            "valid": self.is_valid,
        }


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint on ``table`` over ``columns`` (in constraint order)."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    table_rows: int = 0


#: The largest value each integer type can hold: a sequence's own limit when it was
#: created ``AS`` that type, and the limit of the column a sequence feeds.
TYPE_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


@dataclass(frozen=True)
class SequenceStat:
    """A sequence, with the largest value the column it feeds can hold."""

    schema: str
    name: str
    last_value: int | None
    min_value: int
    max_value: int
    increment: int
    data_type: str
    column_max: int | None = None
    owner_schema: str | None = None
    owner_table: str | None = None
    owner_column: str | None = None
    owner_type: str | None = None

    @property
    def effective_max(self) -> int:
        """The sequence limit, or the column's type limit when that is lower."""
        if self.column_max is None:
            return self.max_value
        return min(self.max_value, self.column_max)

    @property
    def used_ratio(self) -> float | None:
        if self.last_value is None:
            return None
        span = self.effective_max - self.min_value
        if span <= 0:
            return 1.0
        if self.increment < 0:
            return (self.max_value - self.last_value) / span
        return (self.last_value - self.min_value) / span


@dataclass(frozen=True)
class BloatStat:
    """What a table occupies against what its rows should need (from pg_stats widths)."""

    schema: str
    table: str
    pages: int
    tuples: float
    data_width: float
    block_size: int
    fillfactor: int


@dataclass(frozen=True)
class StatementStat:
    """One normalized statement from pg_stat_statements (times in milliseconds)."""

    queryid: int
    query: str
    calls: int
    total_time_ms: float
    mean_time_ms: float
    rows: int = 0


@dataclass(frozen=True)
class ColumnUse:
    """A column a statement filters, joins or sorts on."""

    schema: str
    table: str
    column: str
    usage: str  # "eq", "range", "join" or "sort"


@dataclass(frozen=True)
class Candidate:
    """An index worth testing: ``columns`` of ``schema.table``, in this order."""

    schema: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class StatementPlan:
    """The estimated plan of a top statement, and what indexes did to it."""

    statement: StatementStat
    cost: float | None
    node_types: tuple[str, ...] = ()
    columns: tuple[ColumnUse, ...] = ()
    error: str | None = None
    #: candidate -> estimated total cost with that hypothetical index
    hypothetical: tuple[tuple[Candidate, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "queryid": self.statement.queryid,
            "query": self.statement.query,
            "calls": self.statement.calls,
            "total_time_ms": round(self.statement.total_time_ms, 3),
            "mean_time_ms": round(self.statement.mean_time_ms, 3),
            "estimated_cost": self.cost,
            "plan_nodes": list(self.node_types),
            "columns": [f"{c.schema}.{c.table}.{c.column} ({c.usage})" for c in self.columns],
            "error": self.error,
        }


@dataclass(frozen=True)
class Recommendation:
    """One thing to do, with the evidence and the exact SQL to do it."""

    kind: Kind
    severity: Severity
    reason: str
    sql: str | None = None
    schema: str | None = None
    table: str | None = None
    index: str | None = None
    columns: tuple[str, ...] = ()
    estimated_cost_before: float | None = None
    estimated_cost_after: float | None = None
    #: Used for ranking (e.g. milliseconds saved for index suggestions).
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "schema": self.schema,
            "table": self.table,
            "index": self.index,
            "columns": list(self.columns),
            "reason": self.reason,
            "sql": self.sql,
            "estimated_cost_before": self.estimated_cost_before,
            "estimated_cost_after": self.estimated_cost_after,
        }


@dataclass(frozen=True)
class OptimizationReport:
    """Everything one ``analyze()`` found; ``to_dict()`` is the JSON shape."""

    generated_at: datetime
    recommendations: tuple[Recommendation, ...]
    tables: tuple[TableStat, ...] = ()
    indexes: tuple[IndexStat, ...] = ()
    statements: tuple[StatementPlan, ...] = ()
    unavailable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    stats_age_seconds: float | None = None
    windows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of_kind(self, *kinds: Kind | str) -> list[Recommendation]:
        wanted = {Kind(k) for k in kinds}
        return [r for r in self.recommendations if r.kind in wanted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "recommendations": [r.to_dict() for r in self.recommendations],
            "unavailable": list(self.unavailable),
            "notes": list(self.notes),
            "stats_age_seconds": self.stats_age_seconds,
            "statements": [s.to_dict() for s in self.statements],
            "windows": self.windows,
            "summary": {"tables": len(self.tables), "indexes": len(self.indexes)},
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class CatalogFacts:
    """Everything :mod:`.fetch` read in one pass; the rules' only input besides plans."""

    tables: tuple[TableStat, ...] = ()
    indexes: tuple[IndexStat, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    sequences: tuple[SequenceStat, ...] = ()
    bloat: tuple[BloatStat, ...] = ()
    statements: tuple[StatementStat, ...] = ()
    #: window name ("hour", "day") -> statements with their counters over that window
    windows: dict[str, tuple[StatementStat, ...]] = field(default_factory=dict)
    #: (schema, table) -> column names, to resolve unqualified columns in statements
    columns: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    search_path: tuple[str, ...] = ("public",)
    stats_age_seconds: float | None = None
    has_pg_stat_statements: bool = False
    has_hypopg: bool = False
    #: False when a configured replica could not be read: unused-index checks are off.
    replica_scans_complete: bool = True
    unavailable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
