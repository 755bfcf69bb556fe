"""pg_stat_statements snapshots, and the time windows computed from them.

pg_stat_statements only knows totals since its last reset, and resetting it throws
away everyone's history (it is cluster-wide). Instead, ``take_snapshot()`` copies the
counters into ``pa_stat_statements_snapshots`` (created on first use; run it from cron
or a scheduler, e.g. hourly) and a window such as "last hour" is the difference
between now and the newest snapshot at least an hour old. A statement whose counters
went down was reset in between; its current totals are then the best estimate.
The tables' write counters go into ``pa_stat_tables_snapshots`` at the same time:
an index's maintenance cost is weighed against a window's writes
(:func:`read_table_writes`), not against the bulk load a table started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.optimizer import queries
from personal_assistant.optimizer.models import TableWrites
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.optimizer.statements import StatementStat

#: Window name -> length in seconds.
WINDOWS = {"hour": 3600, "day": 86400}


async def take_snapshot(engine: AsyncEngine, settings: OptimizerSettings) -> int:
    """Store the current counters (and prune old snapshots); returns rows stored."""
    async with engine.begin() as conn:
        await conn.execute(text(f"{queries.MARKER} SELECT 1"))  # begins the transaction
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        await driver.execute(
            f"{queries.MARKER} SET LOCAL statement_timeout = {int(settings.statement_timeout_ms)}"
        )
        await driver.execute(queries.CREATE_SNAPSHOT_TABLE)
        await driver.execute(queries.CREATE_SNAPSHOT_INDEX)
        status = await driver.execute(queries.TAKE_SNAPSHOT, list(queries.NOT_THE_APPLICATIONS))
        await driver.execute(queries.CREATE_TABLE_SNAPSHOT_TABLE)
        await driver.execute(queries.TAKE_TABLE_SNAPSHOT)
        days = settings.snapshot_retention_days
        await driver.execute(queries.PRUNE_SNAPSHOTS, days)
        await driver.execute(queries.PRUNE_TABLE_SNAPSHOTS, days)
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 n"


async def read_table_writes(conn: asyncpg.Connection) -> TableWrites | None:
    """Writes since the newest table snapshot at least an hour old (None: none yet)."""
    if not await conn.fetchval(queries.TABLE_SNAPSHOT_EXISTS):
        return None
    rows = await conn.fetch(queries.TABLE_WRITES_SINCE, WINDOWS["hour"])
    if not rows:
        return None
    return TableWrites(
        seconds=float(rows[0]["age_seconds"]),
        writes={(r["schema"], r["table"]): int(r["writes"]) for r in rows},
    )


@dataclass(frozen=True)
class Window:
    """A statement window: the counters since a baseline snapshot ``seconds`` old."""

    seconds: float
    statements: tuple[StatementStat, ...]


async def read_windows(
    conn: asyncpg.Connection, current: Iterable[StatementStat]
) -> dict[str, Window]:
    """Per window with a baseline snapshot, the statements' counters over that window."""
    if not await conn.fetchval(queries.SNAPSHOT_TABLE_EXISTS):
        return {}
    now = list(current)
    windows: dict[str, Window] = {}
    for name, seconds in WINDOWS.items():
        baseline = [dict(r) for r in await conn.fetch(queries.SNAPSHOT_BEFORE, seconds)]
        if baseline:
            age = float(baseline[0]["age_seconds"])
            windows[name] = Window(age, tuple(deltas(now, _by_queryid(baseline))))
    return windows


def _by_queryid(rows: Iterable[Mapping[str, Any]]) -> dict[int, StatementStat]:
    return {
        int(r["queryid"]): StatementStat(
            queryid=int(r["queryid"]),
            query=str(r["query"]),
            calls=int(r["calls"]),
            total_time_ms=float(r["total_exec_time"]),
            mean_time_ms=0.0,
            rows=int(r["rows"]),
        )
        for r in rows
    }


def deltas(
    current: Iterable[StatementStat], baseline: Mapping[int, StatementStat]
) -> list[StatementStat]:
    """What each statement did since ``baseline`` (statements idle since are left out)."""
    out = []
    for stmt in current:
        before = baseline.get(stmt.queryid)
        if before is None or stmt.calls < before.calls:
            calls, total, nrows = stmt.calls, stmt.total_time_ms, stmt.rows
        else:
            calls = stmt.calls - before.calls
            total = stmt.total_time_ms - before.total_time_ms
            nrows = stmt.rows - before.rows
        if calls <= 0:
            continue
        out.append(
            StatementStat(
                queryid=stmt.queryid,
                query=stmt.query,
                calls=calls,
                total_time_ms=total,
                mean_time_ms=total / calls,
                rows=nrows,
            )
        )
    return sorted(out, key=lambda s: -s.total_time_ms)
