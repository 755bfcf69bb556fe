"""Query performance tracker: every statement's duration, by fingerprint.

:meth:`QueryTracker.attach` (an ``init_engine`` hook; the app passes one tracker to
the primary's and every replica's engine) listens to the engines'
``before_cursor_execute``/``after_cursor_execute`` events. The tracker is an object
the app owns (``app.state.tracker``), not a module-level registry, so two apps or two
tests in one process never share figures. The hot path is a clock
read, a cached fingerprint lookup and two DDSketch inserts (~2 µs, against ~200 µs
for the cheapest pooled query): no I/O, no locks (events run on the event loop's
thread), no parameters kept. Memory is bounded whatever the traffic: at most
``max_fingerprints`` statements (the rest pool under ``other``), each with one total
sketch and a rolling window of a few slot sketches, plus a fixed-size ring of slow
queries. Statements slower than ``DATABASE_SLOW_QUERY_MS`` on the client are held
(with their call site: the stack is gone later) until :meth:`QueryTracker.settle`
judges them (:mod:`.attribution`): only those the database spent the time on are slow
queries, logged as one JSON record each; the others (a busy event loop, the network)
are counted as *client-slow*. The runtime's evaluation loop settles them with the
server's figures and the event-loop lag (``defer_slow``); a tracker on its own settles
each at once, unjudged, as a slow query.

Reading (endpoints, Redis publishing, alerts) goes through :meth:`QueryTracker.wire`,
the same encoding whether the figures come from this process or from every worker.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.latency import LatencySketch
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.attribution import Attribution, SlowSample, Verdict, unjudged
from personal_assistant.monitoring.fingerprint import StatementKey, statement_key
from personal_assistant.monitoring.settings import MonitoringSettings

logger = logging.getLogger(__name__)
slow_logger = logging.getLogger(f"{__name__}.slow")

#: Fingerprint under which statements beyond ``max_fingerprints`` are counted.
OTHER = "other"
#: Slots the rolling window is divided into; it advances one slot at a time.
WINDOW_SLOTS = 5
#: Slow samples held for judging at most; beyond it the oldest are dropped and counted.
PENDING_LIMIT = 10_000
_STARTED = "_pa_started"
#: Modules that are never the interesting caller of a query.
_PLUMBING = (
    "sqlalchemy.",
    "asyncio.",
    "greenlet",
    "contextlib",
    "personal_assistant.monitoring.tracker",
    "personal_assistant.database.session",
)


class RollingSketch:
    """Quantiles over the last ``window_s`` seconds, in ``WINDOW_SLOTS`` slots."""

    __slots__ = ("_slot_s", "_ids", "_sketches")

    def __init__(self, window_s: float) -> None:
        self._slot_s = window_s / WINDOW_SLOTS
        self._ids = [-1] * WINDOW_SLOTS
        self._sketches: list[LatencySketch | None] = [None] * WINDOW_SLOTS

    def add(self, value_ms: float, now: float) -> None:
        slot_id = int(now // self._slot_s)
        i = slot_id % WINDOW_SLOTS
        sketch = self._sketches[i]
        if sketch is None or self._ids[i] != slot_id:
            sketch = self._sketches[i] = LatencySketch()
            self._ids[i] = slot_id
        sketch.add(value_ms)

    def merged(self, now: float) -> LatencySketch:
        oldest = int(now // self._slot_s) - WINDOW_SLOTS + 1
        total = LatencySketch()
        for slot_id, sketch in zip(self._ids, self._sketches, strict=True):
            if sketch is not None and slot_id >= oldest:
                total.merge(sketch)
        return total


class StatementStats:
    """Figures of one fingerprint."""

    __slots__ = ("key", "total", "window", "slow", "client_slow", "client_window")

    def __init__(self, key: StatementKey, window_s: float) -> None:
        self.key = key
        self.total = LatencySketch()
        self.window = RollingSketch(window_s)
        self.slow = 0
        self.client_slow = 0
        #: Client times of its client-slow calls (created on the first one).
        self.client_window: RollingSketch | None = None


@dataclass(frozen=True)
class SlowQuery:
    fingerprint: str
    statement: str
    #: Client time (what the caller waited).
    duration_ms: float
    at: str
    call_site: str | None
    #: The database's time for the call (estimated; ``None``: unknown).
    server_ms: float | None = None
    #: How long the event loop was seen blocked during the call (``None``: not measured).
    loop_blocked_ms: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frames() -> Iterator[FrameType]:
    """This greenlet's frames, then its parents': async callers live in the parent."""
    frame: FrameType | None = sys._getframe(2)
    glet: Any = greenlet.getcurrent()
    while True:
        while frame is not None:
            yield frame
            frame = frame.f_back
        glet = glet.parent
        if glet is None:
            return
        frame = glet.gr_frame


def call_site() -> str | None:
    """``file:line in function`` of the first frame outside SQLAlchemy and asyncio."""
    for frame in _frames():
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(_PLUMBING):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    return None


class QueryTracker:
    """Per-fingerprint latency sketches for one engine; see the module docstring."""

    def __init__(
        self,
        *,
        slow_query_ms: float = 100.0,
        window_s: float = 300.0,
        max_fingerprints: int = 200,
        slow_buffer: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slow_query_ms = slow_query_ms
        self.window_s = window_s
        self.max_fingerprints = max_fingerprints
        self.clock = clock
        self.started_at = time.time()
        self._stats: dict[str, StatementStats] = {}
        self._slow: deque[SlowQuery] = deque(maxlen=slow_buffer)
        self._slow_total = 0
        self._client_slow_total = 0
        self._pending: deque[SlowSample] = deque(maxlen=PENDING_LIMIT)
        self._dropped = 0
        #: Hold slow samples for :meth:`settle` (set by the runtime that settles them).
        self.defer_slow = False

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, *, slow_query_ms: float) -> QueryTracker:
        """A tracker with the configured limits (``slow_query_ms``: ``DATABASE_SLOW_QUERY_MS``)."""
        return cls(
            slow_query_ms=slow_query_ms,
            window_s=settings.perf_window_s,
            max_fingerprints=settings.perf_max_fingerprints,
            slow_buffer=settings.perf_slow_buffer,
        )

    # -- wiring ----------------------------------------------------------------------
    def attach(self, engine: AsyncEngine | Engine) -> None:
        """Time ``engine``'s statements (usable as an ``init_engine`` hook)."""
        target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        event.listen(target, "before_cursor_execute", self._before)
        event.listen(target, "after_cursor_execute", self._after)

    def detach(self, engine: AsyncEngine | Engine) -> None:
        target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        event.remove(target, "before_cursor_execute", self._before)
        event.remove(target, "after_cursor_execute", self._after)

    # -- hot path --------------------------------------------------------------------
    def _before(self, conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        setattr(ctx, _STARTED, time.perf_counter())

    def _after(self, conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        started = getattr(ctx, _STARTED, None)
        if started is not None:
            ended = time.perf_counter()
            self.record(sql, (ended - started) * 1000.0, ended)

    def record(self, sql: str, duration_ms: float, ended: float | None = None) -> None:
        """Count one execution of ``sql`` (also the entry point for tests and benches).

        ``ended``: when it ended, in ``time.perf_counter()`` seconds (default: now).
        """
        key = statement_key(sql)
        stats = self._stats.get(key.fingerprint)
        if stats is None:
            stats = self._new_stats(key)
        stats.total.add(duration_ms)
        stats.window.add(duration_ms, self.clock())
        if duration_ms >= self.slow_query_ms:
            self._hold(key, duration_ms, time.perf_counter() if ended is None else ended)

    def _new_stats(self, key: StatementKey) -> StatementStats:
        if len(self._stats) >= self.max_fingerprints:
            key = StatementKey(OTHER, "(statements beyond the tracked limit)")
            existing = self._stats.get(OTHER)
            if existing is not None:
                return existing
        stats = self._stats[key.fingerprint] = StatementStats(key, self.window_s)
        return stats

    def _hold(self, key: StatementKey, duration_ms: float, ended: float) -> None:
        if len(self._pending) == PENDING_LIMIT:
            self._dropped += 1
        self._pending.append(
            SlowSample(
                fingerprint=key.fingerprint,
                statement=key.text,
                client_ms=round(duration_ms, 3),
                started=ended - duration_ms / 1000.0,
                ended=ended,
                at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                call_site=call_site(),
            )
        )
        if not self.defer_slow:
            self.settle(unjudged(self.take_pending()))

    # -- judging slow samples (off the hot path) -----------------------------------------
    def take_pending(self) -> tuple[SlowSample, ...]:
        """The slow samples held since the last call, oldest first."""
        taken = tuple(self._pending)
        self._pending.clear()
        return taken

    def settle(self, attribution: Attribution) -> None:
        """Report judged samples: slow queries logged and listed, the rest counted."""
        now = self.clock()
        for verdict in attribution.verdicts:
            sample = verdict.sample
            stats = self._stats.get(sample.fingerprint) or self._stats.get(OTHER)
            if verdict.slow_query:
                self._report_slow(verdict, stats)
                continue
            self._client_slow_total += 1
            if stats is not None:
                stats.client_slow += 1
                if stats.client_window is None:
                    stats.client_window = RollingSketch(self.window_s)
                stats.client_window.add(sample.client_ms, now)

    def _report_slow(self, verdict: Verdict, stats: StatementStats | None) -> None:
        sample = verdict.sample
        entry = SlowQuery(
            fingerprint=sample.fingerprint,
            statement=sample.statement,
            duration_ms=sample.client_ms,
            at=sample.at,
            call_site=sample.call_site,
            server_ms=verdict.server_ms,
            loop_blocked_ms=verdict.loop_blocked_ms,
            reason=verdict.reason,
        )
        self._slow.append(entry)
        self._slow_total += 1
        if stats is not None:
            stats.slow += 1
        slow_logger.warning(
            json.dumps({"event": "slow_query", "threshold_ms": self.slow_query_ms, **asdict(entry)})
        )

    # -- reading ---------------------------------------------------------------------
    @property
    def slow_queries(self) -> tuple[SlowQuery, ...]:
        return tuple(self._slow)

    def fingerprints(self) -> tuple[str, ...]:
        return tuple(self._stats)

    def wire(self) -> dict[str, Any]:
        """Everything the tracker knows, JSON-able, for endpoints and Redis."""
        now = self.clock()
        statements = {
            fp: {
                "statement": s.key.text,
                "slow": s.slow,
                "client_slow": s.client_slow,
                "total": sketch_codec.encode(s.total),
                "window": sketch_codec.encode(s.window.merged(now)),
                "client_slow_window": (
                    sketch_codec.encode(s.client_window.merged(now)) if s.client_window else None
                ),
            }
            for fp, s in self._stats.items()
        }
        return {
            "window_s": self.window_s,
            "slow_query_ms": self.slow_query_ms,
            "started_at": self.started_at,
            "slow_total": self._slow_total,
            "client_slow_total": self._client_slow_total,
            "slow_dropped": self._dropped,
            "slow": [q.as_dict() for q in self._slow],
            "statements": statements,
        }

    def reset(self) -> None:
        """Forget every figure (after a deploy, or between benchmark runs)."""
        self._stats.clear()
        self._slow.clear()
        self._pending.clear()
        self._slow_total = self._client_slow_total = self._dropped = 0
