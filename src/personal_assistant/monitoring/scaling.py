"""Health of the scale-out parts: read replicas (pure) and PgBouncer's own figures (I/O).

A replica that is down or lags too far is a *warning*, not a failure: reads fall back
to the primary, so the service still works, only with less capacity. PgBouncer's
admin console accepts only the simple query protocol, which asyncpg cannot read
results from, so its figures are fetched with psycopg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg

from personal_assistant.monitoring.health import Check, Status


def replica_checks(states: Sequence[Mapping[str, Any]], max_lag_ms: float) -> tuple[Check, ...]:
    """One ``replica-N:replicationLag`` check per replica, without URLs or hosts."""
    checks = []
    for number, state in enumerate(states, start=1):
        lag = state.get("lag_ms")
        if not state.get("healthy"):
            status, output = Status.WARN, "unreachable: reads go to the primary"
        elif state.get("in_recovery") is False:
            status, output = Status.WARN, "not in recovery (promoted): no longer a replica"
        elif lag is None:
            status, output = Status.WARN, "lag unknown: reads go to the primary"
        elif lag > max_lag_ms:
            status = Status.WARN
            output = f"lag {lag:.0f} ms above {max_lag_ms:g} ms: reads go to the primary"
        else:
            status, output = Status.PASS, None
        checks.append(
            Check(f"replica-{number}", "replicationLag", status, "datastore", lag, "ms", output)
        )
    return tuple(checks)


def public_replica_states(states: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Replica states for an open endpoint: numbered, no URL, no pool internals."""
    return [
        {
            "name": f"replica-{number}",
            "healthy": state.get("healthy"),
            "lag_ms": state.get("lag_ms"),
            "in_recovery": state.get("in_recovery"),
        }
        for number, state in enumerate(states, start=1)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


async def _show(conn: psycopg.AsyncConnection[Any], what: str) -> list[dict[str, Any]]:
    cursor = await conn.execute(what)
    names = [column.name for column in cursor.description or ()]
    return [
        {name: _plain(value) for name, value in zip(names, row, strict=True)}
        for row in await cursor.fetchall()
    ]


async def pgbouncer_figures(admin_url: str, timeout_s: float) -> dict[str, Any]:
    """``SHOW POOLS`` and ``SHOW STATS`` from PgBouncer's admin console.

    Returns ``{"error": ...}`` instead of raising: PgBouncer's own figures are an
    addition to the pool report, never a reason for it to fail.
    """
    try:
        async with asyncio.timeout(timeout_s):
            conn = await psycopg.AsyncConnection.connect(admin_url, autocommit=True)
            try:
                pools = await _show(conn, "SHOW POOLS")
                stats = await _show(conn, "SHOW STATS")
            finally:
                await conn.close()
    except (TimeoutError, OSError, psycopg.Error) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"error": f"PgBouncer admin console unavailable: {reason}"}
    return {"pools": pools, "stats": stats}
