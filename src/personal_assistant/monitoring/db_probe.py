"""The database round trip behind ``/health/database`` and ``/health/ready``.

It opens its own asyncpg connection instead of borrowing a pooled one: a health check
that queues for the pool reports "the pool is busy" as "the database is down", and
hangs exactly when an operator needs an answer. The whole attempt (connect, query,
close) runs under one ``asyncio.timeout``, so the endpoint answers within its budget
whatever the server does (refuses, hangs in the handshake, sleeps in the query).
Failure reasons name the kind of failure only: no URL, host or password.

A request waits for the shared probe only until its own deadline (fixed when the
request arrived, see :mod:`.budget`): joining a probe that started earlier, or a loop
busy with other requests, never stretches an answer past the budget.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import asyncpg

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.retry import asyncpg_dsn
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring.budget import Deadline, SingleFlight
from personal_assistant.monitoring.health import ProbeFailure, ProbeResult
from personal_assistant.monitoring.own_statements import TAG

PROBE_SQL = f"""{TAG}
SELECT current_setting('server_version') AS server_version,
       current_database() AS database,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
           AS connections,
       current_setting('max_connections')::int AS max_connections
"""


def describe(exc: BaseException, timeout_s: float) -> str:
    """A readable, secret-free reason for ``exc``."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s (database down, overloaded or hung)"
    if isinstance(exc, asyncpg.PostgresError):
        return f"server error {exc.sqlstate} ({type(exc).__name__})"
    if isinstance(exc, OSError):
        # strerror may carry the address ("Connect call failed ('10.0.0.5', 5432)"):
        # the errno's own text says the same without revealing the topology.
        return f"cannot connect: {os.strerror(exc.errno) if exc.errno else type(exc).__name__}"
    return f"connection failed ({type(exc).__name__})"


async def connect(config: DatabaseConfig, timeout_s: float) -> asyncpg.Connection:
    """A fresh connection of the monitoring's own, never a pooled one.

    The caller bounds the whole use with ``asyncio.timeout`` and ends it with
    ``terminate()``.
    """
    return await asyncpg.connect(
        asyncpg_dsn(config.sqlalchemy_url),
        timeout=timeout_s,
        statement_cache_size=0,
        server_settings={"application_name": f"{config.application_name[:50]}-health"},
    )


async def _round_trip(config: DatabaseConfig, sql: str, timeout_s: float) -> dict[str, Any]:
    conn = await connect(config, timeout_s)
    try:
        row = await conn.fetchrow(sql)
    finally:
        # terminate(), not close(): close() waits for the server, which may be the
        # very thing that is stuck.
        conn.terminate()
    assert row is not None
    return dict(row)


async def probe(
    config: DatabaseConfig, timeout_s: float, *, sql: str | None = None
) -> ProbeResult | ProbeFailure:
    """One round trip on a fresh connection, bounded by ``timeout_s`` in total."""
    started = time.perf_counter()
    try:
        with wrap_db_errors("probing the database"):
            async with asyncio.timeout(timeout_s):
                row = await _round_trip(config, sql or PROBE_SQL, timeout_s)
    except DatabaseError as exc:
        reason = describe(exc.original or exc, timeout_s)
        return ProbeFailure(reason, (time.perf_counter() - started) * 1000)
    return ProbeResult(
        response_ms=(time.perf_counter() - started) * 1000,
        server_version=str(row["server_version"]),
        database=str(row["database"]),
        connections=int(row["connections"]),
        max_connections=int(row["max_connections"]),
    )


class SharedProbe:
    """One probe at a time, its result reused for ``max_age_s`` seconds.

    Without this, every health request opens its own connection: 64 concurrent
    probes start 64 server processes, and a load balancer polling every instance
    turns health checking into a load test of the database. Concurrent callers share
    the probe in flight (shielded, so a caller that gives up does not cancel it for the
    others), each waiting until its own deadline; a result, pass or fail, answers for
    ``max_age_s`` seconds (0: only concurrent callers share). The body's ``time``
    fields say when it was measured.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._result: ProbeResult | ProbeFailure | None = None
        self._measured_at = float("-inf")
        self._flight: SingleFlight[ProbeResult | ProbeFailure] = SingleFlight()

    @property
    def last(self) -> tuple[ProbeResult | ProbeFailure, float] | None:
        """The latest probe's result and its age in seconds (``None`` before the first)."""
        if self._result is None:
            return None
        return self._result, time.monotonic() - self._measured_at

    async def get(
        self, config: DatabaseConfig, timeout_s: float, deadline: Deadline | None = None
    ) -> ProbeResult | ProbeFailure:
        """The shared result, answered by ``deadline`` (default: ``timeout_s`` from now)."""
        if self._result is not None and time.monotonic() - self._measured_at < self.max_age_s:
            return self._result
        deadline = deadline or Deadline.after(timeout_s)
        try:
            return await self._flight.join(lambda: self._measure(config, timeout_s), deadline)
        except TimeoutError:
            reason = describe(TimeoutError(), deadline.budget_s)
            return ProbeFailure(reason, deadline.elapsed_s() * 1000)

    async def _measure(
        self, config: DatabaseConfig, timeout_s: float
    ) -> ProbeResult | ProbeFailure:
        result = await probe(config, timeout_s)
        self._result, self._measured_at = result, time.monotonic()
        return result
