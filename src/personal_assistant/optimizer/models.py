"""The optimizer's data: catalog facts in, recommendations out.

Everything here is a frozen dataclass, so the pure rules (:mod:`.rules`,
:mod:`.candidates`) can be tested by building these by hand, without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from personal_assistant.optimizer.statements import StatementPlan, StatementStat


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
    STALE_STATISTICS = "stale_statistics"
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
    {
        Kind.MISSING_INDEX,
        Kind.MISSING_FK_INDEX,
        Kind.VACUUM_NEEDED,
        Kind.ANALYZE_NEEDED,
        Kind.STALE_STATISTICS,
    }
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
    #: A partitioned parent (its rows live in the partitions).
    is_partitioned: bool = False
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_hot_upd: int = 0
    n_tup_del: int = 0
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

    @property
    def last_analyzed(self) -> datetime | None:
        times = [t for t in (self.last_analyze, self.last_autoanalyze) if t is not None]
        return max(times) if times else None

    @property
    def index_writes(self) -> int:
        """Rows written to every index since the statistics started (HOT updates skip them)."""
        return self.n_tup_ins + max(0, self.n_tup_upd - self.n_tup_hot_upd)

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
    #: An index on a partitioned parent (its entries live in the partitions' indexes).
    is_partitioned: bool = False
    #: The parent's index this partition's index is attached to, as (schema, name):
    #: it cannot be dropped alone, the parent's is what to act on.
    attached_to: tuple[str, str] | None = None

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
            "partitioned": self.is_partitioned,
        }


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint on ``table`` over ``columns`` (in constraint order)."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    table_rows: int = 0


@dataclass(frozen=True)
class TableWrites:
    """Index writes per table over a window (since a table snapshot ``seconds`` old)."""

    seconds: float
    writes: dict[tuple[str, str], int]


@dataclass(frozen=True)
class PartitionLink:
    """``schema.table`` is a partition of ``parent_schema.parent``."""

    schema: str
    table: str
    parent_schema: str
    parent: str
    #: The partition is itself partitioned (its own partitions hold the rows).
    is_partitioned: bool = False
    #: A foreign table: it cannot be indexed.
    is_foreign: bool = False


@dataclass(frozen=True)
class Privileges:
    """What the optimizer's role may read; each gap turns some check off."""

    role: str = ""
    superuser: bool = True
    read_all_stats: bool = True
    #: pg_stat_statements rows of other roles, shown as ``<insufficient privilege>``.
    hidden_statements: int = 0
    hidden_time_ms: float = 0.0
    visible_time_ms: float = 0.0
    #: Tables and sequences, as (schema, name), the role cannot read.
    unreadable_tables: tuple[tuple[str, str], ...] = ()
    unreadable_sequences: tuple[tuple[str, str], ...] = ()


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
class Recommendation:
    """One thing to do, with the evidence and the exact SQL to do it.

    ``statements`` are the SQL statements in the order to run them (a partitioned
    index takes several); ``sql`` is them joined, for people to copy.
    """

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
    #: Within a kind, the evidence that orders recommendations (its unit depends on
    #: the kind: see :mod:`.ranking`).
    score: float = 0.0
    statements: tuple[str, ...] = ()
    #: Estimated execution time saved per day (index suggestions), and the index's
    #: estimated maintenance time per day from the table's write rate.
    saved_ms_per_day: float | None = None
    write_cost_ms_per_day: float | None = None
    #: What drops the leftovers when a build fails (``apply()`` runs it).
    undo: tuple[str, ...] = ()

    @property
    def steps(self) -> tuple[str, ...]:
        """The statements to run: ``statements``, or ``sql`` as one."""
        return self.statements or ((self.sql,) if self.sql else ())

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
            "statements": list(self.steps),
            "saved_ms_per_day": _round(self.saved_ms_per_day),
            "write_cost_ms_per_day": _round(self.write_cost_ms_per_day),
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
    #: The time the statement counters cover (what "per day" is extrapolated from).
    period_seconds: float | None = None
    ranking: str = ""

    def of_kind(self, *kinds: Kind | str) -> list[Recommendation]:
        wanted = {Kind(k) for k in kinds}
        return [r for r in self.recommendations if r.kind in wanted]

    def to_dict(self) -> dict[str, Any]:
        recs = []
        for rank, rec in enumerate(self.recommendations, start=1):
            recs.append({"rank": rank, **rec.to_dict()})
        return {
            "generated_at": self.generated_at.isoformat(),
            "ranking": {"unit": "ms/day", "rule": self.ranking},
            "recommendations": recs,
            "unavailable": list(self.unavailable),
            "notes": list(self.notes),
            "stats_age_seconds": self.stats_age_seconds,
            "period_seconds": self.period_seconds,
            "statements": [s.to_dict() for s in self.statements],
            "windows": self.windows,
            "summary": {"tables": len(self.tables), "indexes": len(self.indexes)},
        }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


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
    has_pg_trgm: bool = False
    partitions: tuple[PartitionLink, ...] = ()
    privileges: Privileges = field(default_factory=Privileges)
    #: Seconds the statement counters cover: since pg_stat_statements was reset, or
    #: the window's length when ranking by a snapshot window.
    statements_period_seconds: float | None = None
    #: Index writes per table over the newest hour-old snapshot window, if any.
    table_writes: TableWrites | None = None
    #: False when a configured replica could not be read: unused-index checks are off.
    replica_scans_complete: bool = True
    unavailable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
