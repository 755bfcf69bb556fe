"""Server time per statement: ``pg_stat_statements`` deltas, keyed like the tracker.

The tracker measures a statement on the client; the server's own figure for the same
statement is in ``pg_stat_statements`` (``calls``, ``total_exec_time``). The two are
matched by fingerprint: pg_stat_statements keeps each statement with its constants
replaced by ``$n``, and the pglast fingerprint ignores constants, parameter numbers
and parameter casts, so ``SELECT pg_sleep($1)`` there and ``SELECT pg_sleep($1::FLOAT)``
from SQLAlchemy are one statement.

:class:`ServerTimes` is the pure part. It takes periodic snapshots of the counters
(per ``queryid``; a ``queryid`` is fingerprinted once, from its text, fetched only when
it is new), turns them into running totals per fingerprint, and answers two questions:
what did the server spend on each statement since the previous snapshot
(:meth:`ServerTimes.update` returns it), and what is each statement's mean server time
per call over the rolling window (:meth:`ServerTimes.window`). A counter that went
backwards (``pg_stat_statements_reset()``, or an entry evicted and recreated) counts
from zero. :func:`read_server_times` is the I/O: one cheap read without the statement
texts (``pg_stat_statements(false)``), plus the texts of new entries, on a connection
of its own.

Only the current database and role are read: that is where the tracked statements run.
Statements sent to a replica are not in the primary's view: their server time is
unknown, and :mod:`.attribution` says so.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring import db_probe
from personal_assistant.monitoring.fingerprint import statement_key
from personal_assistant.monitoring.own_statements import TAG

_OURS = """
    dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
"""
COUNTERS_SQL = f"""{TAG}
    SELECT queryid, calls, total_exec_time, min_exec_time, max_exec_time
    FROM pg_stat_statements(false)
    WHERE {_OURS} AND queryid IS NOT NULL
"""
TEXTS_SQL = f"""{TAG}
    SELECT queryid, query FROM pg_stat_statements
    WHERE {_OURS} AND queryid = ANY($1::bigint[])
"""
#: New entries whose text is fetched per snapshot; the rest wait for the next one.
MAX_NEW_TEXTS = 500
#: Why a read failed, by SQLSTATE: the usual set-up gaps, said plainly.
_REASONS = {
    "42883": "extension pg_stat_statements not installed",  # undefined function
    "55000": "pg_stat_statements not in shared_preload_libraries",
    "42501": "no privilege to read pg_stat_statements",
}
#: What pg_stat_statements shows instead of another role's text.
_HIDDEN = "<insufficient privilege>"


@dataclass(frozen=True)
class Counters:
    """One ``pg_stat_statements`` entry's cumulative figures."""

    calls: int
    total_ms: float
    min_ms: float
    max_ms: float


@dataclass(frozen=True)
class ServerDelta:
    """What the server spent on one statement over an interval."""

    calls: int
    total_ms: float
    #: The fastest and slowest calls the server ever recorded for it: bounds of any call.
    min_ms: float = 0.0
    max_ms: float = float("inf")

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "mean_ms": round(self.mean_ms, 3)}


class ServerTimes:
    """Running per-fingerprint server totals; see the module docstring."""

    def __init__(self, window_s: float = 300.0) -> None:
        self.window_s = window_s
        self.available: bool = False
        self.reason: str | None = "not read yet"
        self._rows: dict[int, Counters] | None = None  # None: no snapshot to diff against
        self._fingerprints: dict[int, str | None] = {}
        self._totals: dict[str, tuple[int, float]] = {}
        self._bounds: dict[str, tuple[float, float]] = {}
        self._history: deque[tuple[float, dict[str, tuple[int, float]]]] = deque()

    def unknown_ids(self, rows: Mapping[int, Counters]) -> list[int]:
        """Entries that moved since the last snapshot and were never fingerprinted."""
        prev = self._rows or {}
        moved = (
            qid
            for qid, row in rows.items()
            if qid not in self._fingerprints and (qid not in prev or row.calls != prev[qid].calls)
        )
        return list(itertools.islice(moved, MAX_NEW_TEXTS))

    def learn(self, texts: Mapping[int, str]) -> None:
        """Fingerprint new entries from their text (hidden texts stay unmatched)."""
        for qid, sql in texts.items():
            self._fingerprints[qid] = None if sql == _HIDDEN else statement_key(sql).fingerprint

    def update(
        self, rows: Mapping[int, Counters], now: float, wanted: Collection[str]
    ) -> dict[str, ServerDelta] | None:
        """Fold in a snapshot; the server's work per fingerprint since the previous one.

        ``None`` for the first snapshot (nothing to diff against). Every statement of
        the snapshot counts (one the tracker has not recorded yet may be on its way);
        the window's history keeps those in ``wanted`` (the tracker's) and those that
        ran, which bounds its memory.
        """
        prev, self._rows = self._rows, dict(rows)
        self.available, self.reason = True, None
        if prev is None:
            self._fold({}, now, wanted)  # the window starts here
            return None
        work: dict[str, tuple[int, float]] = {}
        bounds: dict[str, tuple[float, float]] = {}
        for qid, row in rows.items():
            fp = self._fingerprints.get(qid)
            if fp is None:
                continue
            low, high = bounds.get(fp, (row.min_ms, row.max_ms))
            bounds[fp] = min(low, row.min_ms), max(high, row.max_ms)
            before = prev.get(qid)
            if before is not None and row.calls >= before.calls:
                calls, total = row.calls - before.calls, row.total_ms - before.total_ms
            else:  # new, or its counters were reset
                calls, total = row.calls, row.total_ms
            have_calls, have_total = work.get(fp, (0, 0.0))
            work[fp] = have_calls + calls, have_total + max(total, 0.0)
        self._bounds.update(bounds)
        deltas = {
            fp: ServerDelta(calls, total, *bounds[fp])
            for fp, (calls, total) in work.items()
            if calls
        }
        self._fold(deltas, now, wanted)
        return deltas

    def _fold(self, deltas: Mapping[str, ServerDelta], now: float, wanted: Collection[str]) -> None:
        for fp, delta in deltas.items():
            calls, total = self._totals.get(fp, (0, 0.0))
            self._totals[fp] = (calls + delta.calls, total + delta.total_ms)
        kept = {fp: self._totals[fp] for fp in {*wanted, *deltas} if fp in self._totals}
        self._history.append((now, kept))
        # Keep the newest snapshot at or before the window's start as its base.
        while len(self._history) > 1 and self._history[1][0] <= now - self.window_s:
            self._history.popleft()

    def unavailable(self, reason: str) -> None:
        """The read failed: report why; the next snapshot is diffed against the last one.

        A read fails most often when the event loop is busiest (every round trip of it
        waits for the loop), which is when the figures matter; starting over would
        lose two rounds and the window. The next delta spans both intervals: the
        statements judged meanwhile without server figures leave their time to the
        budget of the next round, where the cap at a statement's slowest call keeps a
        fast statement's time from explaining anything.
        """
        self.available, self.reason = False, reason

    def window(self) -> dict[str, ServerDelta]:
        """Each statement's server calls and time over the rolling window."""
        if len(self._history) < 2:
            return {}
        _, base = self._history[0]
        _, latest = self._history[-1]
        out = {}
        for fp, (calls, total) in latest.items():
            base_calls, base_total = base.get(fp, (0, 0.0))
            if calls > base_calls:
                out[fp] = ServerDelta(calls - base_calls, total - base_total, *self._bounds[fp])
        return out

    def status(self) -> dict[str, Any]:
        return {"available": self.available, "reason": self.reason}


def _counters(rows: Iterable[Any]) -> dict[int, Counters]:
    return {
        int(r["queryid"]): Counters(
            int(r["calls"]),
            float(r["total_exec_time"]),
            float(r["min_exec_time"]),
            float(r["max_exec_time"]),
        )
        for r in rows
    }


async def _snapshot(conn: asyncpg.Connection, times: ServerTimes) -> dict[int, Counters]:
    # One round trip in the usual case: under a busy event loop each one is slow.
    rows = _counters(await conn.fetch(COUNTERS_SQL))
    new = times.unknown_ids(rows)
    if new:
        found = await conn.fetch(TEXTS_SQL, new)
        times.learn({int(r["queryid"]): str(r["query"]) for r in found})
    return rows


async def read_server_times(
    config: DatabaseConfig,
    times: ServerTimes,
    *,
    now: float,
    wanted: Collection[str],
    timeout_s: float,
) -> dict[str, ServerDelta] | None:
    """Take a snapshot into ``times``; the deltas since the last one (``None``: unknown).

    The read runs on a short-lived connection of the monitoring's own
    (:func:`.db_probe.connect`), not a pooled one: it must neither wait for the pool
    nor take a connection a request is waiting for. Failures (no extension, not
    preloaded, no privilege, database down, timeout) are recorded in ``times``
    (``available``/``reason``), never raised.
    """
    try:
        with wrap_db_errors("reading pg_stat_statements"):
            async with asyncio.timeout(timeout_s):
                conn = await db_probe.connect(config, timeout_s)
                try:
                    rows = await _snapshot(conn, times)
                finally:
                    conn.terminate()  # as the probe does: close() waits for the server
    except DatabaseError as exc:
        times.unavailable(_reason(exc, timeout_s))
        return None
    return times.update(rows, now, wanted)


def _reason(exc: DatabaseError, timeout_s: float) -> str:
    code = getattr(exc.original, "sqlstate", None)
    if code in _REASONS:
        return _REASONS[str(code)]
    return f"pg_stat_statements unusable: {db_probe.describe(exc.original or exc, timeout_s)}"
