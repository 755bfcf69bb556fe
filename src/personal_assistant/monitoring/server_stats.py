"""Server-side figures for ``/health/database/performance``.

``pg_stat_database`` gives the cache hit ratio, deadlocks and temporary files of the
current database; ``pg_stat_statements`` (when installed and preloaded) the statements
that cost the server most. pg_stat_statements keeps utility statements verbatim
(``ALTER ROLE … PASSWORD '…'``), so its text goes through the same normalization as
the tracker's before it is shown.

Every statement here runs on :func:`~.own_statements.tagged_engine`, and the top
statements leave out the project's own and asyncpg's type introspection (see
:mod:`.own_statements`): an operator looks there for the application's cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.monitoring.errors import failure_reason
from personal_assistant.monitoring.fingerprint import statement_key
from personal_assistant.monitoring.own_statements import (
    ASYNCPG_INTROSPECTION_PREFIX,
    OWN_PREFIX,
    tagged_engine,
)

DATABASE_STATS_SQL = text(
    """
    SELECT blks_hit, blks_read, deadlocks, temp_files, temp_bytes,
           xact_commit, xact_rollback, conflicts, stats_reset
    FROM pg_stat_database WHERE datname = current_database()
    """
)
HAS_PG_STAT_STATEMENTS_SQL = text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
TOP_STATEMENTS_SQL = text(
    """
    SELECT queryid::text AS queryid, query, calls, total_exec_time, mean_exec_time, rows
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND NOT starts_with(ltrim(query), :own_prefix)
      AND NOT starts_with(ltrim(query), :driver_prefix)
    ORDER BY total_exec_time DESC
    LIMIT :limit
    """
)


async def _database_stats(conn: AsyncConnection) -> dict[str, Any]:
    row = (await conn.execute(DATABASE_STATS_SQL)).mappings().one()
    reads = int(row["blks_hit"]) + int(row["blks_read"])
    return {
        "cache_hit_ratio": round(int(row["blks_hit"]) / reads, 4) if reads else None,
        "deadlocks": int(row["deadlocks"]),
        "temp_files": int(row["temp_files"]),
        "temp_bytes": int(row["temp_bytes"]),
        "xact_commit": int(row["xact_commit"]),
        "xact_rollback": int(row["xact_rollback"]),
        "conflicts": int(row["conflicts"]),
        "stats_reset": row["stats_reset"].isoformat() if row["stats_reset"] else None,
    }


async def _top_statements(conn: AsyncConnection, limit: int) -> dict[str, Any]:
    if (await conn.execute(HAS_PG_STAT_STATEMENTS_SQL)).scalar() is None:
        return {"available": False, "reason": "extension pg_stat_statements not installed"}
    try:
        async with conn.begin_nested():
            params = {
                "limit": limit,
                "own_prefix": OWN_PREFIX,
                "driver_prefix": ASYNCPG_INTROSPECTION_PREFIX,
            }
            rows = (await conn.execute(TOP_STATEMENTS_SQL, params)).mappings().all()
    except SQLAlchemyError as exc:
        reason = getattr(getattr(exc, "orig", None), "sqlstate", None) or type(exc).__name__
        return {"available": False, "reason": f"pg_stat_statements unusable ({reason})"}
    return {
        "available": True,
        "statements": [
            {
                "queryid": r["queryid"],
                "statement": statement_key(r["query"]).text,
                "calls": int(r["calls"]),
                "total_ms": round(float(r["total_exec_time"]), 3),
                "mean_ms": round(float(r["mean_exec_time"]), 3),
                "rows": int(r["rows"]),
            }
            for r in rows
        ],
    }


async def server_figures(engine: AsyncEngine, timeout_s: float, limit: int = 10) -> dict[str, Any]:
    """Both groups of figures, or ``{"available": false, "reason": ...}`` within ``timeout_s``.

    Every failure is reported in the body, none propagated.
    """
    try:
        with wrap_db_errors("reading the server figures"):
            async with asyncio.timeout(timeout_s), tagged_engine(engine).connect() as conn:
                stats = await _database_stats(conn)
                top = await _top_statements(conn, limit)
                await conn.rollback()
    except DatabaseError as exc:
        return {"available": False, "reason": f"server figures unavailable: {failure_reason(exc)}"}
    return {"available": True, "pg_stat_database": stats, "pg_stat_statements": top}
