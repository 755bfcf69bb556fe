"""The migration advisory lock, the sessions working under it, and the blocker watch.

Runners serialize on a session-level advisory lock, so the server releases it if the
process dies. A waiting runner polls ``pg_try_advisory_lock`` on an AUTOCOMMIT
connection instead of blocking in ``pg_advisory_lock``: between polls it holds no
transaction and no snapshot, so a ``CREATE INDEX CONCURRENTLY`` in the running
migration (which waits for every older snapshot to end) cannot deadlock with it.

The lock is held by an idle connection while the work happens on another one, so the
holder alone says nothing useful ("idle for 40s"). Every connection that works under
the lock therefore takes a shared *worker* lock ``(namespace, holder pid)``, and a
no-transaction migration also holds a lock of its own version while it runs. A
waiting runner reads what the workers are doing (state, query start, wait event,
query) from ``pg_stat_activity``, and ``status`` tells a no-transaction migration that
is running from one whose runner died half-way.

The lock connection also watches the migration's own backend with
``pg_blocking_pids`` while statements run, so that when ``lock_timeout`` fires the
error can name the session that held the lock (once the statement has failed, the
server no longer reports who blocked it).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.errors import LockTimeoutError

LOCK_NAMESPACE = "personal_assistant.migrations"
#: How the runner's one-line prefix to a transactional section starts
#: (:data:`.execute.BEGIN_TEMPLATE`): descriptions skip that line to show the SQL.
MESSAGE_HEAD = "BEGIN; CLOSE ALL; "

TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
UNLOCK = text("SELECT pg_advisory_unlock(:key)")

#: Taken by a no-transaction migration's connection for as long as it lives: marks it
#: as working for ``holder`` and its version as running (both released with it).
NO_TRANSACTION_LOCKS = text(
    "SELECT pg_advisory_lock_shared(:namespace, :holder), pg_try_advisory_lock(:version_key)"
)

_ADVISORY = """
    l.locktype = 'advisory' AND l.granted
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

#: One session's activity, as the lock-wait and blocker messages describe it.
_ACTIVITY = """
    a.pid, a.usename, a.application_name, a.state, a.wait_event_type, a.wait_event,
    extract(epoch FROM now() - a.backend_start)::int AS connected_s,
    extract(epoch FROM now() - a.state_change)::int AS state_s,
    extract(epoch FROM now() - a.query_start)::int AS query_s,
    extract(epoch FROM now() - a.xact_start)::int AS xact_s,
    left(CASE WHEN starts_with(a.query, :head)
              THEN substr(a.query, strpos(a.query, E'\\n') + 1) ELSE a.query END, 120) AS query
"""

#: Who holds our advisory lock (a bigint key is split into classid/objid by the server),
#: then the sessions working for it (the two-int4 form: classid, objid, objsubid 2).
LOCK_HOLDER = text(
    f"""
    WITH holder AS (
        SELECT l.pid FROM pg_locks l
        WHERE {_ADVISORY} AND l.objsubid = 1
          AND l.classid = CAST(:hi AS bigint)::oid AND l.objid = CAST(:lo AS bigint)::oid
    ), workers AS (
        SELECT DISTINCT l.pid FROM holder h JOIN pg_locks l
          ON {_ADVISORY} AND l.objsubid = 2
         AND l.classid = CAST(:namespace AS bigint)::oid AND l.objid = h.pid::oid
        WHERE l.pid <> h.pid
    )
    SELECT 0 AS worker, {_ACTIVITY} FROM holder h JOIN pg_stat_activity a ON a.pid = h.pid
    UNION ALL
    SELECT 1 AS worker, {_ACTIVITY} FROM workers w JOIN pg_stat_activity a ON a.pid = w.pid
    ORDER BY worker, pid
    """
)

#: Versions whose lock is held right now: their no-transaction migration is running.
RUNNING_VERSIONS = text(
    f"""
    SELECT k.version, l.pid
    FROM unnest(CAST(:versions AS text[]), CAST(:his AS bigint[]), CAST(:los AS bigint[]))
         AS k(version, hi, lo)
    JOIN pg_locks l ON {_ADVISORY} AND l.objsubid = 1
     AND l.classid = k.hi::oid AND l.objid = k.lo::oid
    """
)

#: Sessions blocking ``:pid`` right now, described well enough to find and stop them.
BLOCKERS = text(
    f"""
    SELECT {_ACTIVITY}
    FROM unnest(pg_blocking_pids(:pid)) AS b(pid)
    JOIN pg_stat_activity a ON a.pid = b.pid
    ORDER BY a.pid
    """
)


def lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit key per tracking table, so two tables never share a lock."""
    return _hash(f"{LOCK_NAMESPACE}:{schema}.{table}")


def worker_namespace(key: int) -> int:
    """The int4 first half of the worker locks ``(namespace, holder pid)`` under ``key``."""
    return key & 0x7FFFFFFF


def version_key(key: int, version: int) -> int:
    """The lock a running no-transaction migration of ``version`` holds, under ``key``."""
    return _hash(f"{LOCK_NAMESPACE}:{key}:{version}")


def _hash(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _halves(key: int) -> tuple[int, int]:
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def _ago(seconds: object) -> str:
    return "?" if seconds is None else f"{seconds}s"


def describe_activity(r: Mapping[Any, Any]) -> str:
    """What one session is doing: state and since when, wait event, query."""
    state = r["state"] or "unknown state"
    parts = [f"{state} for {_ago(r['state_s'])}"]
    if r["state"] == "active":
        parts = [f"active, query started {_ago(r['query_s'])} ago"]
    elif r["xact_s"] is not None:
        parts.append(f"transaction open for {_ago(r['xact_s'])}")
    if r["wait_event_type"]:
        parts.append(f"waiting on {r['wait_event_type']}/{r['wait_event']}")
    if r["query"]:
        last = "query" if r["state"] == "active" else "last query"
        parts.append(f"{last}: {str(r['query']).strip()!r}")
    return ", ".join(parts)


def _session(r: Mapping[Any, Any]) -> str:
    return (
        f"pid {r['pid']} (user {r['usename']}, application {r['application_name']!r}, "
        f"connected {_ago(r['connected_s'])} ago)"
    )


def describe_sessions(rows: Iterable[Mapping[Any, Any]]) -> str:
    """Each session: who it is, then what it is doing."""
    return "; ".join(f"{_session(r)}: {describe_activity(r)}" for r in rows) or (
        "an unknown session"
    )


def describe_holder(rows: list[Mapping[Any, Any]]) -> str:
    """The lock holder and, when it is a runner, what its migration connection does."""
    holders = [r for r in rows if not r["worker"]]
    workers = [r for r in rows if r["worker"]]
    if not holders:
        return "a session that has just released it"
    if not workers:
        return describe_sessions(holders)
    doing = "; ".join(f"pid {w['pid']}: {describe_activity(w)}" for w in workers)
    return f"{_session(holders[0])}, migrating on {doing}"


async def holder(conn: AsyncConnection, key: int) -> str:
    """Who holds the migration lock ``key`` and what it is doing."""
    hi, lo = _halves(key)
    params = {"hi": hi, "lo": lo, "namespace": worker_namespace(key), "head": MESSAGE_HEAD}
    result = await conn.execute(LOCK_HOLDER, params)
    return describe_holder([r._mapping for r in result])


async def running_versions(
    conn: AsyncConnection, key: int, versions: Iterable[int]
) -> dict[int, int]:
    """``{version: pid}`` of the no-transaction migrations among ``versions`` running now."""
    wanted = list(versions)
    if not wanted:
        return {}
    halves = [_halves(version_key(key, v)) for v in wanted]
    params = {
        "versions": [str(v) for v in wanted],
        "his": [h for h, _ in halves],
        "los": [lo for _, lo in halves],
    }
    result = await conn.execute(RUNNING_VERSIONS, params)
    return {int(r.version): int(r.pid) for r in result}


@asynccontextmanager
async def migration_lock(
    engine: AsyncEngine,
    key: int,
    *,
    timeout_s: float,
    poll_s: float,
    on_wait: Callable[[str], None] | None = None,
) -> AsyncIterator[AsyncConnection]:
    """Hold the advisory lock for the block; yields the AUTOCOMMIT lock connection.

    ``on_wait`` hears once, when the first attempt fails, who holds the lock and what
    it is doing. Raises :class:`LockTimeoutError` (naming the holder) after ``timeout_s``.
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + timeout_s
        waited = False
        while not await conn.scalar(TRY_LOCK, {"key": key}):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(timeout_s, await holder(conn, key))
            if not waited and on_wait is not None:
                on_wait(await holder(conn, key))
            waited = True
            await asyncio.sleep(poll_s)
        try:
            yield conn
        finally:
            # Shielded so a cancelled runner still releases the lock before the
            # connection goes back to the pool (where the lock would otherwise stay).
            await asyncio.shield(conn.execute(UNLOCK, {"key": key}))


class BlockerWatch:
    """Poll ``pg_blocking_pids(pid)`` while a migration runs; remember the last blockers.

    The first poll comes one interval after the start: a statement done by then was
    not blocked, and most are. Until then only a timer exists (a task per migration
    and polling at once cost ~0.3 ms and ~2.5 ms per migration for nothing).
    """

    def __init__(self, conn: AsyncConnection, pid: int, interval_s: float = 0.2) -> None:
        self._conn = conn
        self._pid = pid
        self._interval = interval_s
        self._stop = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_seen = ""

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            params = {"pid": self._pid, "head": MESSAGE_HEAD}
            rows = [r._mapping for r in await self._conn.execute(BLOCKERS, params)]
            if rows:
                self.last_seen = describe_sessions(rows)
            try:
                await asyncio.wait_for(self._stop.wait(), self._interval)
            except TimeoutError:
                pass

    async def __aenter__(self) -> BlockerWatch:
        self._timer = asyncio.get_running_loop().call_later(self._interval, self._start)
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
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            await self._task
