"""Index checks (pure): invalid, duplicate, redundant and unused indexes.

The rules never suggest dropping what holds a constraint (primary key, unique,
exclusion) or the only index supporting a foreign key, and "unused" waits until the
statistics are old enough and include every configured replica: a fresh reset or a
replica serving the reads would otherwise turn a busy index into a drop suggestion.
A partition's index attached to its parent's is never reported on its own (it cannot
be dropped alone): the parent's index is, with its partitions' sizes and scans.
Missing indexes, foreign keys' included, are chosen as one set in :mod:`.choose`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from personal_assistant.optimizer.ddl import drop_statement
from personal_assistant.optimizer.identifiers import column_list
from personal_assistant.optimizer.models import (
    CatalogFacts,
    ForeignKey,
    IndexStat,
    Kind,
    Recommendation,
    Severity,
)
from personal_assistant.optimizer.settings import OptimizerSettings


def index_recommendations(facts: CatalogFacts, settings: OptimizerSettings) -> list[Recommendation]:
    own = [i for i in facts.indexes if i.attached_to is None]
    by_table: dict[tuple[str, str], list[IndexStat]] = defaultdict(list)
    for index in own:
        by_table[index.schema, index.table].append(index)
    recs = [invalid_index(i) for i in own if not i.is_valid and not i.being_built]
    dropped: set[tuple[str, str]] = set()
    for indexes in by_table.values():
        for rec in duplicate_indexes(indexes):
            dropped.add((rec.schema or "", rec.index or ""))
            recs.append(rec)
        for rec in redundant_indexes(indexes):
            if (rec.schema or "", rec.index or "") not in dropped:
                dropped.add((rec.schema or "", rec.index or ""))
                recs.append(rec)
    recs += [
        r for r in unused_indexes(facts, settings) if (r.schema or "", r.index or "") not in dropped
    ]
    return recs


def invalid_index(index: IndexStat) -> Recommendation:
    if index.is_partitioned:
        reason = (
            "invalid partitioned index: created ON ONLY the parent and not yet attached "
            "to an index on every partition (an interrupted build); attach the missing "
            "partitions' indexes (ALTER INDEX ... ATTACH PARTITION) or drop it"
        )
    else:
        reason = (
            "invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX): it is not used "
            f"for reads but still maintained on every write, {index.size_bytes:,} bytes; "
            "drop it, then recreate it if it is wanted"
        )
    return Recommendation(
        kind=Kind.INVALID_INDEX,
        severity=Severity.WARNING,
        reason=reason,
        sql=drop_statement(index),
        schema=index.schema,
        table=index.table,
        index=index.name,
        columns=index.columns,
    )


def _shape(index: IndexStat) -> tuple[str, str | None, tuple[str, ...]]:
    return index.access_method, index.predicate, index.include


def _keep_rank(index: IndexStat) -> tuple[bool, bool, bool, int]:
    """Which of equal indexes to keep: primary, then constraint, unique, most used."""
    return (index.is_primary, index.backs_constraint, index.is_unique, index.scans)


def duplicate_indexes(indexes: Sequence[IndexStat]) -> list[Recommendation]:
    """Same table, method, columns, INCLUDE list and predicate: keep one, drop the rest."""
    groups: dict[tuple[object, ...], list[IndexStat]] = defaultdict(list)
    for index in indexes:
        if index.is_valid:
            groups[(*_shape(index), index.columns)].append(index)
    recs: list[Recommendation] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        keep = max(group, key=_keep_rank)
        for index in group:
            if index is keep or index.backs_constraint or index.is_primary:
                continue
            if index.is_unique and not keep.is_unique:
                continue
            recs.append(
                _drop_rec(
                    index,
                    Kind.DUPLICATE_INDEX,
                    f"same columns {column_list(index.columns)} as {keep.name!r}; "
                    f"{index.size_bytes:,} bytes and write cost for nothing",
                )
            )
    return recs


def redundant_indexes(indexes: Sequence[IndexStat]) -> list[Recommendation]:
    """A btree whose columns lead another btree's (PgHero's check, which counts
    INCLUDE columns too: ``(a)`` next to ``(a) INCLUDE (b)`` is redundant)."""
    recs: list[Recommendation] = []
    btrees = [i for i in indexes if i.is_valid and i.access_method == "btree"]
    for index in btrees:
        if index.is_unique or index.is_primary or index.backs_constraint:
            continue
        for other in btrees:
            if other is not index and _leads(index, other):
                recs.append(
                    _drop_rec(
                        index,
                        Kind.REDUNDANT_INDEX,
                        f"{column_list(index.columns)} is a prefix of {other.name!r} "
                        f"{column_list(other.columns)}"
                        + (f" INCLUDE {column_list(other.include)}" if other.include else "")
                        + f", which serves the same lookups; {index.size_bytes:,} bytes",
                    )
                )
                break
    return recs


def _leads(index: IndexStat, other: IndexStat) -> bool:
    """Whether ``other`` (same predicate) serves every lookup ``index`` does."""
    if other.predicate != index.predicate:
        return False
    width = len(index.columns)
    if len(other.columns) > width:
        return other.columns[:width] == index.columns
    full = (*other.columns, *other.include)
    return not index.include and len(full) > width and full[:width] == index.columns


def unused_indexes(facts: CatalogFacts, settings: OptimizerSettings) -> list[Recommendation]:
    """Never-scanned indexes, once the statistics are old enough to mean it."""
    age = facts.stats_age_seconds
    min_age = settings.unused_index_min_stats_age_hours * 3600
    if age is None or age < min_age or not facts.replica_scans_complete:
        return []
    fk_support = _fk_supporting_indexes(facts.foreign_keys, facts.indexes)
    recs = []
    for index in facts.indexes:
        if index.attached_to is not None:
            continue
        if index.is_unique or index.is_primary or index.backs_constraint or not index.is_valid:
            continue
        if index.scans > settings.unused_index_max_scans or index.name in fk_support:
            continue
        recs.append(
            _drop_rec(
                index,
                Kind.UNUSED_INDEX,
                f"{index.scans} scans in {age / 3600:.0f} h of statistics "
                f"(replicas included), {index.size_bytes:,} bytes maintained on every write",
                score=index.size_bytes,
            )
        )
    return recs


def _drop_rec(index: IndexStat, kind: Kind, reason: str, score: float = 0.0) -> Recommendation:
    big = index.size_bytes >= 100 * 1024 * 1024
    if index.is_partitioned:
        reason += (
            "; a partitioned index cannot be dropped CONCURRENTLY: DROP INDEX locks the "
            "table briefly, run it in a quiet moment"
        )
    return Recommendation(
        kind=kind,
        severity=Severity.WARNING if big else Severity.INFO,
        reason=reason,
        sql=drop_statement(index),
        schema=index.schema,
        table=index.table,
        index=index.name,
        columns=index.columns,
        score=score or index.size_bytes,
    )


def _covers(index: IndexStat, columns: Sequence[str]) -> bool:
    """Whether the index's leading columns are exactly ``columns`` in some order."""
    lead = index.columns[: len(columns)]
    return (index.is_valid and index.predicate is None and len(lead) == len(columns)) and set(
        lead
    ) == set(columns)


def _fk_supporting_indexes(fks: Iterable[ForeignKey], indexes: Sequence[IndexStat]) -> set[str]:
    """Indexes that are the only support of some foreign key (never called unused)."""
    names: set[str] = set()
    for fk in fks:
        support = [
            i
            for i in indexes
            if (i.schema, i.table) == (fk.schema, fk.table) and _covers(i, fk.columns)
        ]
        if len(support) == 1:
            names.add(support[0].name)
    return names
