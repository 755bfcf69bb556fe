"""The stored performance baseline: per-statement p50/p95 in ``pa_performance_baseline``.

The table is created on first use (``CREATE TABLE IF NOT EXISTS``), so recording a
baseline needs no migration. Rows are keyed by fingerprint and upserted: recording
again moves each statement's reference to its current figures and keeps the others.
Its statements run on :func:`~.own_statements.tagged_engine`: the monitoring's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.monitoring.aggregate import MergedStatement
from personal_assistant.monitoring.alerts import Baseline
from personal_assistant.monitoring.own_statements import tagged_engine
from personal_assistant.monitoring.tracker import OTHER

TABLE = "pa_performance_baseline"

CREATE_TABLE_SQL = text(
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        fingerprint text PRIMARY KEY,
        statement text NOT NULL,
        calls bigint NOT NULL,
        p50_ms double precision NOT NULL,
        p95_ms double precision NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
    )
    """
)
TABLE_EXISTS_SQL = text(f"SELECT to_regclass('{TABLE}') IS NOT NULL")
UPSERT_SQL = text(
    f"""
    INSERT INTO {TABLE} (fingerprint, statement, calls, p50_ms, p95_ms, recorded_at)
    VALUES (:fingerprint, :statement, :calls, :p50_ms, :p95_ms, now())
    ON CONFLICT (fingerprint) DO UPDATE SET
        statement = EXCLUDED.statement, calls = EXCLUDED.calls,
        p50_ms = EXCLUDED.p50_ms, p95_ms = EXCLUDED.p95_ms, recorded_at = now()
    """
)
SELECT_SQL = text(
    f"SELECT fingerprint, statement, calls, p50_ms, p95_ms, recorded_at FROM {TABLE} "
    "ORDER BY fingerprint"
)

#: Fewer calls than this make a statement's percentiles too noisy to compare against.
MIN_CALLS = 20


def baseline_rows(statements: Iterable[MergedStatement], min_calls: int) -> list[dict[str, object]]:
    """Rows to store: total p50/p95 of each statement seen at least ``min_calls`` times."""
    rows: list[dict[str, object]] = []
    for stmt in statements:
        summary = stmt.total.summary()
        if stmt.fingerprint == OTHER or summary.count < min_calls:
            continue
        rows.append(
            {
                "fingerprint": stmt.fingerprint,
                "statement": stmt.statement,
                "calls": summary.count,
                "p50_ms": summary.p50,
                "p95_ms": summary.p95,
            }
        )
    return rows


async def _select(conn: AsyncConnection) -> dict[str, Baseline]:
    result = await conn.execute(SELECT_SQL)
    return {
        r.fingerprint: Baseline(
            fingerprint=r.fingerprint,
            statement=r.statement,
            calls=int(r.calls),
            p50_ms=float(r.p50_ms),
            p95_ms=float(r.p95_ms),
            recorded_at=r.recorded_at.isoformat(),
        )
        for r in result
    }


async def store_baseline(
    engine: AsyncEngine, statements: Iterable[MergedStatement], min_calls: int = MIN_CALLS
) -> dict[str, Baseline]:
    """Record the current figures and return the whole stored baseline."""
    rows = baseline_rows(statements, min_calls)
    async with tagged_engine(engine).begin() as conn:
        # CREATE ... IF NOT EXISTS needs CREATE on the schema even when the table is
        # there: skip it then, so a role with DML grants only can record.
        if not (await conn.execute(TABLE_EXISTS_SQL)).scalar():
            await conn.execute(CREATE_TABLE_SQL)
        if rows:
            await conn.execute(UPSERT_SQL, rows)
        return await _select(conn)


async def load_baseline(engine: AsyncEngine) -> dict[str, Baseline]:
    """The stored baseline (empty when none was ever recorded)."""
    async with tagged_engine(engine).connect() as conn:
        if not (await conn.execute(TABLE_EXISTS_SQL)).scalar():
            return {}
        return await _select(conn)
