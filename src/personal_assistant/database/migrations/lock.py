"""The migration advisory lock and the watch that names blocking sessions.

Runners serialize on a session-level advisory lock, so the server releases it if the
process dies. A waiting runner polls ``pg_try_advisory_lock`` on an AUTOCOMMIT
connection instead of blocking in ``pg_advisory_lock``: between polls it holds no
transaction and no snapshot, so a ``CREATE INDEX CONCURRENTLY`` in the running
migration (which waits for every older snapshot to end) cannot deadlock with it.

The same connection then watches the migration's own backend with
``pg_blocking_pids`` while statements run, so that when ``lock_timeout`` fires the
error can name the session that held the lock (once the statement has failed, the
server no longer reports who blocked it).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.errors import LockTimeoutError

LOCK_NAMESPACE = "personal_assistant.migrations"

TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
UNLOCK = text("SELECT pg_advisory_unlock(:key)")

#: Who holds our advisory lock (a bigint key is split into classid/objid by the server).
LOCK_HOLDER = text(
    """
    SELECT a.pid, a.usename, a.application_name, a.state,
           extract(epoch FROM now() - a.backend_start)::int AS age_s
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = CAST(:hi AS bigint)::oid AND l.objid = CAST(:lo AS bigint)::oid
      AND l.objsubid = 1
    """
)

#: Sessions blocking ``:pid`` right now, described well enough to find and stop them.
BLOCKERS = text(
    """
    SELECT a.pid, a.usename, a.application_name, a.state,
           extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::int AS age_s,
           left(a.query, 120) AS query
    FROM unnest(pg_blocking_pids(:pid)) AS b(pid)
    JOIN pg_stat_activity a ON a.pid = b.pid
    ORDER BY a.pid
    """
)


def lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit key per tracking table, so two tables never share a lock."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}:{schema}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _describe(rows: list[dict[str, object]]) -> str:
    parts = []
    for r in rows:
        part = (
            f"pid {r['pid']} (user {r['usename']}, application {r['application_name']!r}, "
            f"{r['state']} for {r['age_s']}s"
        )
        if r.get("query"):
            part += f", last query: {str(r['query']).strip()!r}"
        parts.append(part + ")")
    return "; ".join(parts) or "an unknown session"


async def _holder(conn: AsyncConnection, key: int) -> str:
    hi, lo = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    result = await conn.execute(LOCK_HOLDER, {"hi": hi, "lo": lo})
    return _describe([dict(r._mapping) for r in result])


@asynccontextmanager
async def migration_lock(
    engine: AsyncEngine, key: int, *, timeout_s: float, poll_s: float
) -> AsyncIterator[AsyncConnection]:
    """Hold the advisory lock for the block; yields the AUTOCOMMIT lock connection.

    Raises :class:`LockTimeoutError` (naming the holder) after ``timeout_s``.
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + timeout_s
        while not await conn.scalar(TRY_LOCK, {"key": key}):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(timeout_s, await _holder(conn, key))
            await asyncio.sleep(poll_s)
        try:
            yield conn
        finally:
            # Shielded so a cancelled runner still releases the lock before the
            # connection goes back to the pool (where the lock would otherwise stay).
            await asyncio.shield(conn.execute(UNLOCK, {"key": key}))


class BlockerWatch:
    """Poll ``pg_blocking_pids(pid)`` while a migration runs; remember the last blockers."""

    def __init__(self, conn: AsyncConnection, pid: int, interval_s: float = 0.2) -> None:
        self._conn = conn
        self._pid = pid
        self._interval = interval_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_seen = ""

    async def _run(self) -> None:
        # The first poll waits one interval: a statement done by then was not blocked,
        # and most are (polling at once cost ~2.5 ms per migration for nothing).
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), self._interval)
                return
            except TimeoutError:
                pass
            result = await self._conn.execute(BLOCKERS, {"pid": self._pid})
            rows = [dict(r._mapping) for r in result]
            if rows:
                self.last_seen = _describe(rows)

    async def __aenter__(self) -> BlockerWatch:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Stopped by an event rather than cancelled: cancelling a query half-way
        # would leave the lock connection in an unknown state.
        self._stop.set()
        if self._task is not None:
            await self._task
