"""Event-driven connection pool statistics.

SQLAlchemy's pool keeps current counts (checked out, idle, overflow) but no history
and no wait times. :class:`PoolStatsCollector` listens to the pool's events
(``connect``, ``checkout``, ``checkin``, ``invalidate``) and counts them where they
happen, in the manner of psycopg_pool's ``get_stats()``; checkout waits are measured by
:class:`~personal_assistant.database.pool.InstrumentedAsyncPool` around the real
acquisition, since no event exists for it.
``snapshot()`` returns an immutable :class:`PoolStats`.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from personal_assistant.database.latency import LatencySketch

# Counter keys, named once so that producers and readers cannot drift apart.
CHECKOUTS = "total_checkouts"
REUSED = "reused_checkouts"
WAITED = "waited_checkouts"
CREATED = "connections_created"
CLOSED = "connections_closed"
TIMEOUTS = "timeouts"
INVALIDATIONS = "invalidations"
RECOVERED = "disconnects_recovered"
CONNECT_ERRORS = "connect_errors"

#: Set on a connection opened for this checkout (read by the pre-ping, cleared at checkout).
FRESH = "pa_fresh"
_INVALIDATED = "pa_invalidated"
_CHECKOUT_AT = "pa_checkout_at"

#: How far back "recent timeouts" look (the health endpoint fails on any).
RECENT_WINDOW_S = 60.0


@dataclass(frozen=True)
class PoolStats:
    """A consistent view of the pool at one moment."""

    pool_size: int
    max_overflow: int
    capacity: int
    checked_out: int
    checked_in: int
    overflow: int
    utilization: float
    total_checkouts: int
    connections_created: int
    connections_closed: int
    reuse_ratio: float
    waited_checkouts: int
    wait_ratio: float
    pending_requests: int
    checkout_wait_ms: dict[str, float | int]
    connection_use_ms: dict[str, float | int]
    connection_create_ms: dict[str, float | int]
    timeouts: int
    timeouts_last_minute: int
    invalidations: int
    disconnects_recovered: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PoolStatsCollector:
    """Counts pool events for one engine. Cheap: a counter bump per event."""

    def __init__(self, pool_size: int, max_overflow: int) -> None:
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self._counts: Counter[str] = Counter()
        self._wait = LatencySketch()
        self._use = LatencySketch()
        self._create = LatencySketch()
        self._pending = 0
        self._recent_timeouts: deque[float] = deque(maxlen=10_000)
        self._engine: AsyncEngine | None = None

    # -- wiring -------------------------------------------------------------------
    def attach(self, engine: AsyncEngine) -> None:
        """Listen to ``engine``'s pool events (also on pools recreated by ``dispose()``)."""
        self._engine = engine
        target = engine.sync_engine
        event.listen(target, "connect", self._on_connect)
        event.listen(target, "checkout", self._on_checkout)
        event.listen(target, "checkin", self._on_checkin)
        event.listen(target, "invalidate", self._on_invalidate)
        event.listen(target, "close", self._on_close)
        pool = target.pool
        if hasattr(pool, "pa_stats"):  # our InstrumentedAsyncPool (database/pool.py)
            pool.pa_stats = self

    # -- event handlers (called by SQLAlchemy) -------------------------------------
    def _on_connect(self, dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        self._counts[CREATED] += 1
        record.info[FRESH] = True
        if record.record_info is not None and record.record_info.pop(_INVALIDATED, False):
            self._counts[RECOVERED] += 1

    def _on_checkout(self, dbapi_conn: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        self._counts[CHECKOUTS] += 1
        if not record.info.pop(FRESH, False):
            self._counts[REUSED] += 1
        record.info[_CHECKOUT_AT] = time.perf_counter()

    def _on_checkin(self, dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        started = record.info.pop(_CHECKOUT_AT, None) if dbapi_conn is not None else None
        if started is not None:
            self._use.add((time.perf_counter() - started) * 1000.0)

    def _on_invalidate(
        self, dbapi_conn: Any, record: ConnectionPoolEntry, exc: BaseException | None
    ) -> None:
        self._counts[INVALIDATIONS] += 1
        if record.record_info is not None:
            record.record_info[_INVALIDATED] = True

    def _on_close(self, dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        self._counts[CLOSED] += 1

    # -- measurements from InstrumentedAsyncPool ------------------------------------
    def record_wait(self, wait_s: float, waited: bool) -> None:
        self._wait.add(wait_s * 1000.0)
        if waited:
            self._counts[WAITED] += 1

    def record_create(self, seconds: float) -> None:
        """Time to open one new connection (retries included)."""
        self._create.add(seconds * 1000.0)

    def waiting(self, delta: int) -> None:
        """A checkout starts (+1) or stops (-1) waiting for a free connection."""
        self._pending += delta

    def record_timeout(self) -> None:
        self._counts[TIMEOUTS] += 1
        self._recent_timeouts.append(time.monotonic())

    def record_connect_error(self) -> None:
        self._counts[CONNECT_ERRORS] += 1

    # -- sketches behind the summaries ------------------------------------------------
    @property
    def wait_sketch(self) -> LatencySketch:
        """Checkout waits (ms), for merging across workers."""
        return self._wait

    @property
    def use_sketch(self) -> LatencySketch:
        """How long connections stayed checked out (ms)."""
        return self._use

    @property
    def create_sketch(self) -> LatencySketch:
        """How long opening a new connection took (ms)."""
        return self._create

    # -- reading -------------------------------------------------------------------
    def _recent_timeout_count(self) -> int:
        horizon = time.monotonic() - RECENT_WINDOW_S
        while self._recent_timeouts and self._recent_timeouts[0] < horizon:
            self._recent_timeouts.popleft()
        return len(self._recent_timeouts)

    def snapshot(self) -> PoolStats:
        checked_out = checked_in = overflow = 0
        if self._engine is not None:
            pool = self._engine.sync_engine.pool
            if isinstance(pool, AsyncAdaptedQueuePool):
                checked_out = pool.checkedout()
                checked_in = pool.checkedin()
                overflow = max(pool.overflow(), 0)
        capacity = self.pool_size + self.max_overflow
        checkouts = self._counts[CHECKOUTS]
        return PoolStats(
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            capacity=capacity,
            checked_out=checked_out,
            checked_in=checked_in,
            overflow=overflow,
            utilization=round(checked_out / capacity, 4) if capacity else 0.0,
            total_checkouts=checkouts,
            connections_created=self._counts[CREATED],
            connections_closed=self._counts[CLOSED],
            reuse_ratio=round(self._counts[REUSED] / checkouts, 4) if checkouts else 1.0,
            waited_checkouts=self._counts[WAITED],
            wait_ratio=round(self._counts[WAITED] / checkouts, 4) if checkouts else 0.0,
            pending_requests=self._pending,
            checkout_wait_ms=self._wait.summary().as_dict(),
            connection_use_ms=self._use.summary().as_dict(),
            connection_create_ms=self._create.summary().as_dict(),
            timeouts=self._counts[TIMEOUTS],
            timeouts_last_minute=self._recent_timeout_count(),
            invalidations=self._counts[INVALIDATIONS],
            disconnects_recovered=self._counts[RECOVERED],
        )
