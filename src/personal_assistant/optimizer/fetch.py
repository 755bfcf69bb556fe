"""Read the catalogs, statistics and pg_stat_statements in one read-only pass.

Every query runs in a ``READ ONLY`` transaction with a ``statement_timeout``,
so the optimizer can neither change the database nor hold a connection for long on a
busy catalog. A missing extension or privilege becomes an entry in ``unavailable``
(:mod:`.privileges` words them), not an error: nothing here needs more than
``pg_monitor``, and without it the rest still runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.urls import mask_url, normalize_database_url
from personal_assistant.optimizer import queries, snapshots
from personal_assistant.optimizer.identifiers import quote
from personal_assistant.optimizer.models import (
    TYPE_MAX,
    BloatStat,
    CatalogFacts,
    ForeignKey,
    IndexStat,
    PartitionLink,
    Privileges,
    SequenceStat,
    TableStat,
)
from personal_assistant.optimizer.privileges import gaps as privilege_gaps
from personal_assistant.optimizer.queries import NOT_THE_APPLICATIONS
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.optimizer.statements import StatementStat


@asynccontextmanager
async def read_only(engine: AsyncEngine, timeout_ms: int) -> AsyncIterator[asyncpg.Connection]:
    """The driver's connection inside a READ ONLY transaction that is always rolled back.

    SQLAlchemy provides the connection and the transaction (its first statement starts
    it); the optimizer's statements then go through asyncpg directly, with the
    positional parameters of :mod:`.queries`: SQLAlchemy's result objects cost a tenth
    of a second on a 1,000-table catalog. When the work inside fails, a failing
    rollback (the server went away) is not allowed to hide the cause: "cannot call
    Transaction.rollback(): the underlying connection is closed" says nothing about why.
    """
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(text(f"{queries.MARKER} SET TRANSACTION READ ONLY"))
            raw = await conn.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection
            await driver.execute(queries.SET_TIMEOUT, str(int(timeout_ms)))
            yield driver
        except BaseException:
            try:
                await trans.rollback()
            except Exception:
                # The connection is gone: drop it from the pool, keep the first error.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            raise
        await trans.rollback()


async def rows(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(sql, *args)]


async def fetch_facts(engine: AsyncEngine, settings: OptimizerSettings) -> CatalogFacts:
    """Everything the rules need, from one connection, plus replica index scans."""
    async with read_only(engine, settings.statement_timeout_ms) as conn:
        facts = await _fetch(conn, settings)
    if not settings.replica_urls:
        return facts
    return await _with_replica_scans(facts, settings)


async def _fetch(conn: asyncpg.Connection, settings: OptimizerSettings) -> CatalogFacts:
    extensions = {r["extname"] for r in await rows(conn, queries.EXTENSIONS)}
    privileges = await _privileges(conn)
    unavailable: list[str] = []
    period = await _statements_period(conn, extensions, unavailable)
    has_pgss = period is not False
    if "hypopg" not in extensions:
        unavailable.append("hypopg: not installed; index suggestions cannot be tested")
    statements: tuple[StatementStat, ...] = ()
    windows: dict[str, tuple[StatementStat, ...]] = {}
    notes: list[str] = []
    if has_pgss:
        privileges = await _hidden_statements(conn, privileges)
        statements, windows, period = await _statements(conn, settings, period, notes)
    unavailable += privilege_gaps(privileges)
    age = (await rows(conn, queries.STATS_AGE))[0]["age_seconds"]
    return CatalogFacts(
        tables=tuple(_table(r) for r in await rows(conn, queries.TABLES)),
        indexes=tuple(_index(r) for r in await rows(conn, queries.INDEXES)),
        foreign_keys=tuple(_fk(r) for r in await rows(conn, queries.FOREIGN_KEYS)),
        sequences=tuple(_sequence(r) for r in await rows(conn, queries.SEQUENCES)),
        bloat=tuple(_bloat(r) for r in await rows(conn, queries.BLOAT, _min_pages(settings))),
        partitions=tuple(PartitionLink(**r) for r in await rows(conn, queries.PARTITIONS)),
        statements=statements,
        windows=windows,
        columns=await _columns(conn),
        search_path=tuple(r["schema"] for r in await rows(conn, queries.SEARCH_PATH)),
        stats_age_seconds=float(age) if age is not None else None,
        statements_period_seconds=period if isinstance(period, float) else None,
        table_writes=await snapshots.read_table_writes(conn),
        has_pg_stat_statements=has_pgss,
        has_hypopg="hypopg" in extensions,
        has_pg_trgm="pg_trgm" in extensions,
        privileges=privileges,
        unavailable=tuple(unavailable),
        notes=tuple(notes),
    )


async def _statements_period(
    conn: asyncpg.Connection, extensions: set[str], unavailable: list[str]
) -> float | None | bool:
    """Seconds pg_stat_statements covers (None: unknown); False when it cannot be read.

    Probed by reading it, in a savepoint: whether it is preloaded is in
    ``shared_preload_libraries``, which only pg_read_all_settings may read.
    """
    if "pg_stat_statements" not in extensions:
        unavailable.append(_NO_PGSS.format(why="not installed (CREATE EXTENSION)"))
        return False
    await conn.execute(f"{queries.MARKER} SAVEPOINT pa_optimizer_probe")
    try:
        found = await rows(conn, queries.STATEMENTS_PERIOD)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate not in ("42501", "55000"):
            raise
        await conn.execute(f"{queries.MARKER} ROLLBACK TO SAVEPOINT pa_optimizer_probe")
        if exc.sqlstate == "42501":
            role = (await rows(conn, queries.PRIVILEGES))[0]["role"]
            why = f"not readable by {role!r} (GRANT SELECT ON pg_stat_statements TO {quote(role)})"
        else:
            why = "installed but not in shared_preload_libraries (restart needed)"
        unavailable.append(_NO_PGSS.format(why=why))
        return False
    seconds = found[0]["seconds"] if found else None
    return float(seconds) if seconds is not None else None


_NO_PGSS = (
    "pg_stat_statements: {why}; no query analysis or index suggestions "
    "(see docs/performance-optimization.md)"
)


async def _statements(
    conn: asyncpg.Connection, settings: OptimizerSettings, period: float | None, notes: list[str]
) -> tuple[tuple[StatementStat, ...], dict[str, tuple[StatementStat, ...]], float | None]:
    found = await rows(
        conn, queries.STATEMENTS, settings.statement_min_calls, list(NOT_THE_APPLICATIONS)
    )
    current = [_statement(r) for r in found]
    windows = await snapshots.read_windows(conn, current)
    chosen = windows.get(settings.window)
    if settings.window != "total" and chosen is None:
        notes.append(f"no snapshot old enough for the {settings.window} window yet")
    statements = chosen.statements if chosen else tuple(current)
    period = chosen.seconds if chosen else period
    return statements, {name: w.statements for name, w in windows.items()}, period


async def _privileges(conn: asyncpg.Connection) -> Privileges:
    row = (await rows(conn, queries.PRIVILEGES))[0]
    privileges = Privileges(
        role=str(row["role"]),
        superuser=bool(row["superuser"]),
        read_all_stats=bool(row["read_all_stats"]),
    )
    if privileges.superuser:
        return privileges
    unreadable = await rows(conn, queries.UNREADABLE)
    tables = tuple((r["schema"], r["name"]) for r in unreadable if r["kind"] == "table")
    sequences = tuple((r["schema"], r["name"]) for r in unreadable if r["kind"] == "sequence")
    return dataclasses.replace(privileges, unreadable_tables=tables, unreadable_sequences=sequences)


async def _hidden_statements(conn: asyncpg.Connection, privileges: Privileges) -> Privileges:
    if privileges.read_all_stats:
        return privileges
    row = (await rows(conn, queries.HIDDEN_STATEMENTS))[0]
    return dataclasses.replace(
        privileges,
        hidden_statements=int(row["hidden"]),
        hidden_time_ms=float(row["hidden_ms"]),
        visible_time_ms=float(row["visible_ms"]),
    )


async def _columns(conn: asyncpg.Connection) -> dict[tuple[str, str], frozenset[str]]:
    columns: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in await rows(conn, queries.COLUMNS):
        columns[r["schema"], r["table"]].add(r["column"])
    return {k: frozenset(v) for k, v in columns.items()}


def _min_pages(settings: OptimizerSettings) -> int:
    # Below the byte threshold no bloat can be reported; skip those tables in SQL.
    return max(1, settings.bloat_min_bytes // 8192)


#: Field names, looked up once: dataclasses.fields() per row costs 0.1 s on 4,000 rows.
_TABLE_FIELDS = tuple(f.name for f in dataclasses.fields(TableStat))
_INDEX_FIELDS = tuple(f.name for f in dataclasses.fields(IndexStat))


def _table(r: Mapping[str, Any]) -> TableStat:
    return TableStat(**{name: r[name] for name in _TABLE_FIELDS})


def _index(r: Mapping[str, Any]) -> IndexStat:
    values = {name: r[name] for name in _INDEX_FIELDS if name in r}
    values["columns"] = tuple(r["columns"])
    values["include"] = tuple(r["include"])
    if r["attached_name"] is not None:
        values["attached_to"] = (r["attached_schema"], r["attached_name"])
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
