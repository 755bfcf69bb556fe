"""Read the catalogs, statistics and pg_stat_statements in one read-only pass.

Every query runs in a ``READ ONLY`` transaction with ``SET LOCAL statement_timeout``,
so the optimizer can neither change the database nor hold a connection for long on a
busy catalog. A missing extension becomes an entry in ``unavailable``, not an error.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.urls import mask_url, normalize_database_url
from personal_assistant.optimizer import queries, snapshots
from personal_assistant.optimizer.models import (
    TYPE_MAX,
    BloatStat,
    CatalogFacts,
    ForeignKey,
    IndexStat,
    SequenceStat,
    StatementStat,
    TableStat,
)
from personal_assistant.optimizer.settings import OptimizerSettings


@asynccontextmanager
async def read_only(engine: AsyncEngine, timeout_ms: int) -> AsyncIterator[AsyncConnection]:
    """A connection inside a READ ONLY transaction that is always rolled back."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(text(f"{queries.MARKER} SET TRANSACTION READ ONLY"))
            await conn.execute(text(queries.SET_TIMEOUT), {"timeout": str(timeout_ms)})
            yield conn
        finally:
            await trans.rollback()


async def rows(
    conn: AsyncConnection, sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    result = await conn.execute(text(sql), dict(params or {}))
    return [dict(row) for row in result.mappings().all()]


async def fetch_facts(engine: AsyncEngine, settings: OptimizerSettings) -> CatalogFacts:
    """Everything the rules need, from one connection, plus replica index scans."""
    async with read_only(engine, settings.statement_timeout_ms) as conn:
        facts = await _fetch(conn, settings)
    if not settings.replica_urls:
        return facts
    return await _with_replica_scans(facts, settings)


async def _fetch(conn: AsyncConnection, settings: OptimizerSettings) -> CatalogFacts:
    extensions = {r["extname"] for r in await rows(conn, queries.EXTENSIONS)}
    preloaded = str((await rows(conn, queries.PRELOADED))[0]["libs"])
    has_pgss = "pg_stat_statements" in extensions and "pg_stat_statements" in preloaded
    unavailable = []
    if not has_pgss:
        unavailable.append(
            "pg_stat_statements: not installed or not preloaded; no query analysis "
            "or index suggestions (see docs/performance-optimization.md)"
        )
    if "hypopg" not in extensions:
        unavailable.append("hypopg: not installed; index suggestions cannot be tested")
    columns: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in await rows(conn, queries.COLUMNS):
        columns[r["schema"], r["table"]].add(r["column"])
    statements: tuple[StatementStat, ...] = ()
    windows: dict[str, tuple[StatementStat, ...]] = {}
    notes: list[str] = []
    if has_pgss:
        current = [
            _statement(r) for r in await rows(conn, queries.STATEMENTS, _min_calls(settings))
        ]
        windows = await snapshots.read_windows(conn, current)
        statements = tuple(current)
        if settings.window != "total":
            if settings.window in windows:
                statements = windows[settings.window]
            else:
                notes.append(f"no snapshot old enough for the {settings.window} window yet")
    age = (await rows(conn, queries.STATS_AGE))[0]["age_seconds"]
    return CatalogFacts(
        tables=tuple(_table(r) for r in await rows(conn, queries.TABLES)),
        indexes=tuple(_index(r) for r in await rows(conn, queries.INDEXES)),
        foreign_keys=tuple(_fk(r) for r in await rows(conn, queries.FOREIGN_KEYS)),
        sequences=tuple(_sequence(r) for r in await rows(conn, queries.SEQUENCES)),
        bloat=tuple(
            _bloat(r) for r in await rows(conn, queries.BLOAT, {"min_pages": _min_pages(settings)})
        ),
        statements=statements,
        windows=windows,
        columns={k: frozenset(v) for k, v in columns.items()},
        search_path=tuple(r["schema"] for r in await rows(conn, queries.SEARCH_PATH)),
        stats_age_seconds=float(age) if age is not None else None,
        has_pg_stat_statements=has_pgss,
        has_hypopg="hypopg" in extensions,
        unavailable=tuple(unavailable),
        notes=tuple(notes),
    )


def _min_calls(settings: OptimizerSettings) -> dict[str, int]:
    return {"min_calls": settings.statement_min_calls}


def _min_pages(settings: OptimizerSettings) -> int:
    # Below the byte threshold no bloat can be reported; skip those tables in SQL.
    return max(1, settings.bloat_min_bytes // 8192)


def _table(r: Mapping[str, Any]) -> TableStat:
    return TableStat(**{f.name: r[f.name] for f in dataclasses.fields(TableStat)})


def _index(r: Mapping[str, Any]) -> IndexStat:
    values = {f.name: r[f.name] for f in dataclasses.fields(IndexStat)}
    values["columns"] = tuple(r["columns"])
    values["include"] = tuple(r["include"])
    return IndexStat(**values)


def _fk(r: Mapping[str, Any]) -> ForeignKey:
    return ForeignKey(r["schema"], r["table"], r["name"], tuple(r["columns"]), r["table_rows"])


def _sequence(r: Mapping[str, Any]) -> SequenceStat:
    owner_type = r["owner_type"]
    return SequenceStat(
        schema=r["schema"],
        name=r["name"],
        last_value=r["last_value"],
        min_value=r["min_value"],
        max_value=r["max_value"],
        increment=r["increment"],
        data_type=r["data_type"],
        column_max=TYPE_MAX.get(owner_type) if owner_type else None,
        owner_schema=r["owner_schema"],
        owner_table=r["owner_table"],
        owner_column=r["owner_column"],
        owner_type=owner_type,
    )


def _bloat(r: Mapping[str, Any]) -> BloatStat:
    return BloatStat(
        schema=r["schema"],
        table=r["table"],
        pages=int(r["pages"]),
        tuples=float(r["tuples"]),
        data_width=float(r["data_width"] or 0),
        block_size=int(r["block_size"]),
        fillfactor=int(r["fillfactor"]),
    )


def _statement(r: Mapping[str, Any]) -> StatementStat:
    return StatementStat(
        queryid=int(r["queryid"]),
        query=str(r["query"]),
        calls=int(r["calls"]),
        total_time_ms=float(r["total_time_ms"]),
        mean_time_ms=float(r["mean_time_ms"] or 0),
        rows=int(r["rows"]),
    )


async def replica_index_scans(url: str, timeout_ms: int) -> dict[tuple[str, str], int]:
    """Index scans counted on one replica, by (schema, index name)."""
    engine = create_async_engine(normalize_database_url(url), poolclass=NullPool)
    try:
        async with read_only(engine, timeout_ms) as conn:
            return {
                (r["schema"], r["name"]): int(r["scans"])
                for r in await rows(conn, queries.REPLICA_INDEX_SCANS)
            }
    finally:
        await engine.dispose()


async def _with_replica_scans(facts: CatalogFacts, settings: OptimizerSettings) -> CatalogFacts:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    failed: list[str] = []
    for secret in settings.replica_urls:
        url = secret.get_secret_value()
        try:
            with wrap_db_errors("scanning index usage on a replica"):
                scans = await replica_index_scans(url, settings.statement_timeout_ms)
        except DatabaseError as exc:
            name = type(exc.original or exc).__name__
            failed.append(f"replica {mask_url(normalize_database_url(url))}: {name}")
            continue
        for key, count in scans.items():
            totals[key] += count
    indexes = tuple(_add_scans(facts.indexes, totals))
    unavailable = facts.unavailable + tuple(
        f"{f} unreachable; unused-index check skipped" for f in failed
    )
    return dataclasses.replace(
        facts, indexes=indexes, replica_scans_complete=not failed, unavailable=unavailable
    )


def _add_scans(
    indexes: Iterable[IndexStat], extra: Mapping[tuple[str, str], int]
) -> Iterable[IndexStat]:
    for index in indexes:
        more = extra.get((index.schema, index.name), 0)
        yield dataclasses.replace(index, scans=index.scans + more) if more else index
