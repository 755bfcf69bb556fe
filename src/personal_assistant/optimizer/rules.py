"""The checks: pure functions from fetched facts (and settings) to recommendations.

Each rule errs on the side of silence: a recommendation someone acts on wrongly
(dropping an index a replica uses, rewriting a healthy table) costs more than one
missed, so every rule has a minimum size or evidence threshold and says in its
``reason`` which numbers crossed it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from personal_assistant.optimizer.estimates import stale_statistics
from personal_assistant.optimizer.identifiers import qualified, quote
from personal_assistant.optimizer.index_rules import index_recommendations
from personal_assistant.optimizer.models import (
    TYPE_MAX,
    BloatStat,
    CatalogFacts,
    Kind,
    Recommendation,
    SequenceStat,
    Severity,
    TableStat,
)
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.optimizer.statements import StatementPlan, shorten


def maintenance_recommendations(
    facts: CatalogFacts, plans: Sequence[StatementPlan], settings: OptimizerSettings
) -> list[Recommendation]:
    """Every rule but the index suggestions (:mod:`.suggest`), unordered (:mod:`.ranking`)."""
    stale = stale_statistics(
        plans, facts.tables, settings.estimate_mismatch_ratio, settings.stale_min_mod_ratio
    )
    analyzed = {(r.schema, r.table) for r in stale}
    tables = [
        r
        for r in table_recommendations(facts.tables, settings)
        if r.kind != Kind.ANALYZE_NEEDED or (r.schema, r.table) not in analyzed
    ]
    return [
        *tables,
        *stale,
        *index_recommendations(facts, settings),
        *sequence_recommendations(facts.sequences, settings),
        *bloat_recommendations(facts.bloat, settings),
        *slow_queries(plans, settings),
    ]


# -- tables ---------------------------------------------------------------------------


def table_recommendations(
    tables: Iterable[TableStat], settings: OptimizerSettings
) -> list[Recommendation]:
    recs: list[Recommendation] = []
    for table in tables:
        vacuum = vacuum_needed(table, settings)
        recs += [r for r in (vacuum, missing_primary_key(table)) if r is not None]
        if vacuum is None and (analyze := analyze_needed(table, settings)) is not None:
            recs.append(analyze)  # VACUUM (ANALYZE) already covers it otherwise
        if (cache := low_cache_hit(table, settings)) is not None:
            recs.append(cache)
    return recs


def vacuum_needed(table: TableStat, settings: OptimizerSettings) -> Recommendation | None:
    if table.dead_tuples < settings.vacuum_min_dead_tuples:
        return None
    if table.dead_ratio < settings.vacuum_dead_ratio:
        return None
    last = table.last_autovacuum or table.last_vacuum
    when = f"last vacuumed {last:%Y-%m-%d %H:%M} UTC" if last else "never vacuumed"
    return _table_rec(
        table,
        Kind.VACUUM_NEEDED,
        Severity.CRITICAL if table.dead_ratio >= 0.5 else Severity.WARNING,
        f"{table.dead_tuples:,} dead rows against {table.live_tuples:,} live "
        f"({table.dead_ratio:.0%} dead, threshold {settings.vacuum_dead_ratio:.0%}); {when}",
        f"VACUUM (ANALYZE) {qualified(table.schema, table.name)};",
        score=table.dead_tuples,
    )


def analyze_needed(table: TableStat, settings: OptimizerSettings) -> Recommendation | None:
    if table.live_tuples < settings.analyze_min_rows:
        return None
    if not table.ever_analyzed:
        reason = f"never analyzed, {table.live_tuples:,} rows: the planner is guessing"
    elif table.mod_since_analyze >= max(
        settings.analyze_min_rows, settings.analyze_mod_ratio * table.live_tuples
    ):
        reason = (
            f"{table.mod_since_analyze:,} rows changed since the last ANALYZE "
            f"({table.mod_since_analyze / table.live_tuples:.0%} of {table.live_tuples:,}; "
            f"threshold {settings.analyze_mod_ratio:.0%})"
        )
    else:
        return None
    return _table_rec(
        table,
        Kind.ANALYZE_NEEDED,
        Severity.WARNING,
        reason,
        f"ANALYZE {qualified(table.schema, table.name)};",
        score=table.mod_since_analyze,
    )


def missing_primary_key(table: TableStat) -> Recommendation | None:
    if table.has_primary_key or table.is_partitioned_child or table.is_partitioned:
        return None  # a partitioned table's key must include the partition key: by hand
    return _table_rec(
        table,
        Kind.MISSING_PRIMARY_KEY,
        Severity.WARNING,
        f"no primary key ({table.live_tuples:,} rows): rows cannot be addressed reliably "
        "and logical replication cannot replicate updates or deletes; prefer a natural "
        "key if there is one, the SQL adds a surrogate (it rewrites the table under lock)",
        f"ALTER TABLE {qualified(table.schema, table.name)} "
        "ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;",
    )


def low_cache_hit(table: TableStat, settings: OptimizerSettings) -> Recommendation | None:
    ratio = table.cache_hit_ratio
    blocks = table.heap_blks_hit + table.heap_blks_read
    if ratio is None or blocks < settings.cache_min_blocks:
        return None
    if ratio >= settings.cache_hit_ratio_min:
        return None
    return _table_rec(
        table,
        Kind.LOW_CACHE_HIT_RATIO,
        Severity.WARNING,
        f"{ratio:.1%} of {blocks:,} heap block reads came from shared buffers "
        f"(threshold {settings.cache_hit_ratio_min:.0%}); {table.seq_scan:,} sequential "
        f"scans read {table.seq_tup_read:,} rows: index the filters or raise shared_buffers",
        None,
        score=table.heap_blks_read,
    )


def _table_rec(
    table: TableStat,
    kind: Kind,
    severity: Severity,
    reason: str,
    sql: str | None,
    score: float = 0.0,
) -> Recommendation:
    return Recommendation(
        kind=kind,
        severity=severity,
        reason=reason,
        sql=sql,
        schema=table.schema,
        table=table.name,
        score=score,
    )


# -- sequences and bloat --------------------------------------------------------------


def sequence_recommendations(
    sequences: Iterable[SequenceStat], settings: OptimizerSettings
) -> list[Recommendation]:
    recs = []
    for seq in sequences:
        ratio = seq.used_ratio
        if ratio is None or ratio < settings.sequence_used_ratio:
            continue
        critical = ratio >= settings.sequence_critical_ratio
        recs.append(
            Recommendation(
                kind=Kind.SEQUENCE_EXHAUSTION,
                severity=Severity.CRITICAL if critical else Severity.WARNING,
                reason=f"{ratio:.1%} used: at {seq.last_value:,} of {seq.effective_max:,} "
                f"({seq.owner_type or seq.data_type}); inserts fail when it runs out",
                sql=_widen_sequence_sql(seq),
                schema=seq.owner_schema or seq.schema,
                table=seq.owner_table,
                index=None,
                columns=(seq.owner_column,) if seq.owner_column else (),
                score=ratio,
            )
        )
    return recs


def _widen_sequence_sql(seq: SequenceStat) -> str | None:
    """Move the sequence and its column to bigint; nothing to widen past bigint."""
    parts = []
    if seq.owner_table and seq.owner_column and seq.owner_type in ("smallint", "integer"):
        parts.append(
            f"ALTER TABLE {qualified(seq.owner_schema or seq.schema, seq.owner_table)} "
            f"ALTER COLUMN {quote(seq.owner_column)} TYPE bigint;"
        )
    if seq.data_type in ("smallint", "integer") and seq.max_value == TYPE_MAX[seq.data_type]:
        parts.append(f"ALTER SEQUENCE {qualified(seq.schema, seq.name)} AS bigint;")
    return " ".join(parts) or None


def estimated_bloat(stat: BloatStat) -> tuple[int, float]:
    """(wasted bytes, wasted share) from the row width pg_stats reports.

    Each row costs a 24-byte header, its data aligned to 8 bytes and a 4-byte line
    pointer; a page holds (block - 24 bytes header) * fillfactor of them. It is an
    estimate in the spirit of PgHero's and ioguix's: good to a few percent for
    fixed-width rows, so the threshold is deliberately coarse.
    """
    row = 24 + 8 * math.ceil(stat.data_width / 8) + 4
    per_page = max(1, int((stat.block_size - 24) * stat.fillfactor / 100 // row))
    expected = math.ceil(stat.tuples / per_page)
    wasted_pages = max(0, stat.pages - expected)
    return wasted_pages * stat.block_size, wasted_pages / stat.pages if stat.pages else 0.0


def bloat_recommendations(
    stats: Iterable[BloatStat], settings: OptimizerSettings
) -> list[Recommendation]:
    recs = []
    for stat in stats:
        wasted, share = estimated_bloat(stat)
        if share < settings.bloat_ratio or wasted < settings.bloat_min_bytes:
            continue
        recs.append(
            Recommendation(
                kind=Kind.TABLE_BLOAT,
                severity=Severity.WARNING,
                reason=f"about {wasted / 1024 / 1024:,.1f} MiB ({share:.0%}) of "
                f"{stat.pages * stat.block_size / 1024 / 1024:,.1f} MiB is empty space "
                f"(estimated from {stat.tuples:,.0f} rows); VACUUM FULL locks the table "
                "while it rewrites it: use pg_repack on busy tables",
                sql=f"VACUUM (FULL, ANALYZE) {qualified(stat.schema, stat.table)};",
                schema=stat.schema,
                table=stat.table,
                score=wasted,
            )
        )
    return recs


# -- statements -----------------------------------------------------------------------


def slow_queries(
    plans: Iterable[StatementPlan], settings: OptimizerSettings
) -> list[Recommendation]:
    recs = []
    for plan in plans:
        stmt = plan.statement
        if stmt.mean_time_ms < settings.slow_query_mean_ms:
            continue
        tables = sorted({(c.schema, c.table) for c in plan.columns})
        filtered = tuple(dict.fromkeys(c.column for c in plan.columns))
        nodes = ", ".join(plan.node_types[:4]) or "plan unavailable"
        recs.append(
            Recommendation(
                kind=Kind.SLOW_QUERY,
                severity=Severity.WARNING,
                reason=f"mean {stmt.mean_time_ms:,.1f} ms over {stmt.calls:,} calls "
                f"({stmt.total_time_ms / 1000:,.1f} s in all; threshold "
                f"{settings.slow_query_mean_ms:g} ms); plan: {nodes}; "
                f"estimated cost {plan.cost if plan.cost is not None else '?'}; "
                f"query: {shorten(stmt.query, 200)}",
                sql=None,
                schema=tables[0][0] if len(tables) == 1 else None,
                table=tables[0][1] if len(tables) == 1 else None,
                columns=filtered,
                estimated_cost_before=plan.cost,
                score=stmt.total_time_ms,
            )
        )
    return recs
