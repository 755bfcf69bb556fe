"""Blocked and long-running sessions: who waits on a lock, who holds it, for how long.

A lock pile-up does not slow the round trip of ``/health/database``, does not fill the
pool at once, and leaves the latency figures flat until the first waiters give up:
every request worker simply waits. This module makes it visible. One query
(:data:`SESSIONS_SQL`) lists the sessions of this database that wait on a lock (with
``pg_blocking_pids()``), the sessions blocking them (often ``idle in transaction``)
and the long-running ones; :func:`blocked_check` turns the longest wait into the
``database:blockedSessions`` check.

The query runs on a short-lived connection of its own (:func:`db_probe.connect`),
never a pooled one, under the probe's timeout: the pool may be exhausted exactly when
this matters. Waiters are found in ``pg_locks`` (ungranted locks), which every role may
read, as well as by ``wait_event_type = 'Lock'``: without ``pg_read_all_stats`` the
``pg_stat_activity`` rows of other roles carry no state, no times and
``<insufficient privilege>`` for a query, and the result says so instead of failing.
Statements are shown normalized (:mod:`.fingerprint`), never with their literals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring import db_probe
from personal_assistant.monitoring.budget import Deadline, SingleFlight
from personal_assistant.monitoring.fingerprint import StatementKey, statement_key
from personal_assistant.monitoring.health import Check, Status, above
from personal_assistant.monitoring.own_statements import tagged

#: $1: seconds after which an open transaction (or a statement) counts as long-running.
#: A backend waits for one lock at a time, so ``waits`` has at most one row per pid.
#: CTEs used twice are computed once, so each catalog function runs once per call.
SESSIONS_SQL = tagged(
    """
WITH waits AS (
    SELECT DISTINCT ON (l.pid)
           l.pid, l.locktype, l.mode, l.waitstart,
           CASE WHEN l.database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())
                THEN l.relation::regclass::text END AS relation
    FROM pg_locks l
    WHERE NOT l.granted
    ORDER BY l.pid, l.waitstart
), activity AS (
    SELECT a.pid, a.datname = current_database() AS in_database, a.state,
           a.backend_type, a.query,
           w.pid IS NOT NULL OR a.wait_event_type = 'Lock' AS waiting,
           w.locktype, w.mode, w.relation,
           EXTRACT(EPOCH FROM now() - COALESCE(w.waitstart, a.query_start))::float8 AS wait_s,
           EXTRACT(EPOCH FROM now() - a.xact_start)::float8 AS transaction_s,
           EXTRACT(EPOCH FROM now() - a.state_change)::float8 AS state_s
    FROM pg_stat_activity a
    LEFT JOIN waits w ON w.pid = a.pid
    WHERE a.pid <> pg_backend_pid()
), blocked AS (
    SELECT pid, pg_blocking_pids(pid) AS blocked_by
    FROM activity
    WHERE waiting AND in_database
), blockers AS (
    SELECT DISTINCT unnest(blocked_by) AS pid FROM blocked
)
SELECT a.pid, a.in_database, a.state, a.backend_type, a.query, a.waiting AND a.in_database
           AS blocked,
       a.locktype, a.mode, a.relation, a.wait_s, a.transaction_s, a.state_s,
       COALESCE(b.blocked_by, '{}') AS blocked_by,
       a.pid IN (SELECT pid FROM blockers) AS blocking,
       a.in_database AND a.backend_type = 'client backend' AND a.state <> 'idle'
           AND a.transaction_s > $1::float8 AS long_running
FROM activity a
LEFT JOIN blocked b ON b.pid = a.pid
WHERE b.pid IS NOT NULL
   OR a.pid IN (SELECT pid FROM blockers)
   OR (a.in_database AND a.backend_type = 'client backend' AND a.state <> 'idle'
       AND a.transaction_s > $1::float8)
"""
)

#: What ``pg_stat_activity.query`` reads for another role's session without
#: ``pg_read_all_stats``.
INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"
#: Most sessions listed per kind in a body; the counts always cover all of them.
MAX_LISTED = 50
PRIVILEGE_NOTE = (
    "some sessions belong to other roles and show no state, times or statement: "
    "grant pg_read_all_stats (or pg_monitor) to the service's role to see them"
)


@dataclass(frozen=True)
class Session:
    """One session of interest: blocked, blocking, or long-running (or several)."""

    pid: int
    #: ``None`` for another role's session when the role may not see it (``visible``).
    state: str | None
    statement: StatementKey | None
    visible: bool = True
    blocked: bool = False
    blocked_by: tuple[int, ...] = ()
    blocking: bool = False
    long_running: bool = False
    #: What it waits for, e.g. ``("relation", "AccessShareLock", "users")``.
    lock: tuple[str, str, str | None] | None = None
    wait_s: float | None = None
    transaction_s: float | None = None
    state_s: float | None = None
    in_database: bool = True


@dataclass(frozen=True)
class SessionThresholds:
    blocked_warn_s: float = 5.0
    blocked_fail_s: float = 30.0
    long_running_s: float = 60.0


@dataclass(frozen=True)
class SessionsReading:
    """What one read of the sessions found."""

    sessions: tuple[Session, ...]

    @property
    def blocked(self) -> list[Session]:
        """Sessions of this database waiting on a lock, the longest wait first."""
        waiting = (s for s in self.sessions if s.blocked)
        return sorted(waiting, key=lambda s: s.wait_s or 0.0, reverse=True)

    @property
    def blockers(self) -> list[Session]:
        """Sessions holding a lock that another one waits for, the oldest first."""
        holding = (s for s in self.sessions if s.blocking)
        return sorted(holding, key=lambda s: s.transaction_s or 0.0, reverse=True)

    @property
    def long_running(self) -> list[Session]:
        """Open transactions older than the threshold that are not waiting on a lock."""
        running = (s for s in self.sessions if s.long_running and not s.blocked)
        return sorted(running, key=lambda s: s.transaction_s or 0.0, reverse=True)

    @property
    def longest_wait_s(self) -> float:
        return max((s.wait_s or 0.0 for s in self.blocked), default=0.0)

    @property
    def complete(self) -> bool:
        """Whether every listed session could be seen in full (see :data:`PRIVILEGE_NOTE`)."""
        return all(s.visible for s in self.sessions)


@dataclass(frozen=True)
class SessionsUnavailable:
    """Why the sessions could not be read; ``reason`` is safe to show."""

    reason: str


SessionsResult = SessionsReading | SessionsUnavailable


# -- rows in, sessions out (pure) ----------------------------------------------------------
def _seconds(value: Any) -> float | None:
    return None if value is None else max(0.0, round(float(value), 1))


def session_from_row(row: Mapping[str, Any]) -> Session:
    """A :data:`SESSIONS_SQL` row as a :class:`Session`, its statement normalized."""
    query = row["query"]
    visible = query != INSUFFICIENT_PRIVILEGE
    statement = statement_key(query) if visible and query and query.strip() else None
    lock = (str(row["locktype"]), str(row["mode"]), row["relation"]) if row["locktype"] else None
    return Session(
        pid=int(row["pid"]),
        state=row["state"],
        statement=statement,
        visible=visible,
        blocked=bool(row["blocked"]),
        blocked_by=tuple(int(pid) for pid in row["blocked_by"] or ()),
        blocking=bool(row["blocking"]),
        long_running=bool(row["long_running"]),
        lock=lock,
        wait_s=_seconds(row["wait_s"]),
        transaction_s=_seconds(row["transaction_s"]),
        state_s=_seconds(row["state_s"]),
        in_database=bool(row["in_database"]),
    )


def reading_from_rows(rows: Iterable[Mapping[str, Any]]) -> SessionsReading:
    return SessionsReading(tuple(session_from_row(row) for row in rows))


# -- checks and bodies (pure) --------------------------------------------------------------
def blocked_check(result: SessionsResult, limits: SessionThresholds) -> Check:
    """``database:blockedSessions``: warn/fail when the longest lock wait passes a limit.

    The observed value is the number of sessions waiting on a lock right now; the output
    carries counts and seconds only (no pid, no statement), so it may be shown openly.
    """
    if isinstance(result, SessionsUnavailable):
        return Check(
            "database", "blockedSessions", Status.WARN, "datastore",
            output=f"blocked sessions not known: {result.reason}",
        )  # fmt: skip
    blocked = len(result.blocked)
    longest = result.longest_wait_s
    status = above(longest, warn=limits.blocked_warn_s, fail=limits.blocked_fail_s)
    output = None
    if status is not Status.PASS:
        limit = limits.blocked_fail_s if status is Status.FAIL else limits.blocked_warn_s
        output = (
            f"{blocked} session(s) waiting on a lock, the longest for {longest:g} s "
            f"(above {limit:g} s)"
        )
    return Check(
        "database", "blockedSessions", status, "datastore", blocked, "sessions", output=output
    )


def summary(result: SessionsResult) -> dict[str, Any]:
    """Counts only, for the open endpoint: no pid, no statement, no state."""
    if isinstance(result, SessionsUnavailable):
        return {"available": False}
    return {
        "available": True,
        "blocked": len(result.blocked),
        "blocking": len(result.blockers),
        "long_running": len(result.long_running),
        "longest_wait_s": result.longest_wait_s,
    }


def _statement(session: Session) -> dict[str, Any]:
    key = session.statement
    return {
        "fingerprint": key.fingerprint if key else None,
        "statement": key.text if key else None,
    }


def _blocked_entry(session: Session) -> dict[str, Any]:
    lock = session.lock
    return {
        "pid": session.pid,
        "waited_s": session.wait_s,
        "blocked_by": list(session.blocked_by),
        "lock": {"type": lock[0], "mode": lock[1], "relation": lock[2]} if lock else None,
        "state": session.state,
        "visible": session.visible,
        **_statement(session),
    }


def _session_entry(session: Session, blocked_pids: Mapping[int, int]) -> dict[str, Any]:
    return {
        "pid": session.pid,
        "state": session.state,
        "transaction_s": session.transaction_s,
        "state_s": session.state_s,
        "blocking": blocked_pids.get(session.pid, 0),
        "visible": session.visible,
        "other_database": not session.in_database,
        **_statement(session),
    }


def details(result: SessionsResult, limits: SessionThresholds) -> dict[str, Any]:
    """The counts plus, for each blocked session, who blocks it, and the long-running ones.

    For a blocker, ``transaction_s`` (its transaction's age) bounds how long it has held
    its locks and ``state_s`` says how long it has been in ``state`` (``idle in
    transaction`` is the classic culprit). At most :data:`MAX_LISTED` of each kind.
    """
    body = summary(result)
    body["thresholds"] = {
        "blocked_warn_s": limits.blocked_warn_s,
        "blocked_fail_s": limits.blocked_fail_s,
        "long_running_s": limits.long_running_s,
    }
    if isinstance(result, SessionsUnavailable):
        body["reason"] = result.reason
        return body
    blocked = result.blocked
    waiting_on: dict[int, int] = {}
    for session in blocked:
        for pid in session.blocked_by:
            waiting_on[pid] = waiting_on.get(pid, 0) + 1
    body["blocked_sessions"] = [_blocked_entry(s) for s in blocked[:MAX_LISTED]]
    body["blocking_sessions"] = [
        _session_entry(s, waiting_on) for s in result.blockers[:MAX_LISTED]
    ]
    body["long_running_sessions"] = [
        _session_entry(s, waiting_on) for s in result.long_running[:MAX_LISTED]
    ]
    body["complete"] = result.complete
    if not result.complete:
        body["note"] = PRIVILEGE_NOTE
    return body


# -- the read (I/O) ------------------------------------------------------------------------
async def _fetch(
    config: DatabaseConfig, timeout_s: float, long_running_s: float
) -> list[asyncpg.Record]:
    conn = await db_probe.connect(config, timeout_s)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(SESSIONS_SQL, long_running_s)
        return rows
    finally:
        conn.terminate()  # as the probe does: close() would wait for the server


async def read_sessions(
    config: DatabaseConfig, timeout_s: float, long_running_s: float
) -> SessionsResult:
    """One read on a fresh connection, bounded by ``timeout_s`` in total; never raises."""
    try:
        with wrap_db_errors("reading blocked sessions"):
            async with asyncio.timeout(timeout_s):
                rows = await _fetch(config, timeout_s, long_running_s)
    except DatabaseError as exc:
        return SessionsUnavailable(db_probe.describe(exc.original or exc, timeout_s))
    return reading_from_rows(rows)


class SharedSessions:
    """One read at a time, its result reused for ``max_age_s`` (as the probe's is).

    ``/health/database``, the dashboard and ``/metrics`` all want the same figures; a
    pile-up is exactly when they poll most, and when an extra connection per request
    would hurt most. Each caller waits until its own deadline at most (the read goes on
    for the others, see :class:`.budget.SingleFlight`).
    """

    def __init__(self, max_age_s: float, long_running_s: float) -> None:
        self.max_age_s = max_age_s
        self.long_running_s = long_running_s
        self._result: SessionsResult | None = None
        self._read_at = float("-inf")
        self._flight: SingleFlight[SessionsResult] = SingleFlight()

    async def get(
        self, config: DatabaseConfig, timeout_s: float, deadline: Deadline | None = None
    ) -> SessionsResult:
        """The shared result, answered by ``deadline`` (default: ``timeout_s`` from now)."""
        if self._result is not None and time.monotonic() - self._read_at < self.max_age_s:
            return self._result
        deadline = deadline or Deadline.after(timeout_s)
        try:
            return await self._flight.join(lambda: self._read(config, timeout_s), deadline)
        except TimeoutError:
            return SessionsUnavailable(db_probe.describe(TimeoutError(), deadline.budget_s))

    async def _read(self, config: DatabaseConfig, timeout_s: float) -> SessionsResult:
        result = await read_sessions(config, timeout_s, self.long_running_s)
        self._result, self._read_at = result, time.monotonic()
        return result
