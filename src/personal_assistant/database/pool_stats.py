"""Event-driven connection pool statistics.

SQLAlchemy's pool keeps current counts (checked out, idle, overflow) but no history
and no wait times. :class:`PoolStatsCollector` listens to the pool's events
(``connect``, ``checkout``, ``checkin``, ``invalidate``) and counts them where they
happen, in the manner of psycopg_pool's ``get_stats()``; checkout waits and connection
creation are measured by :class:`~personal_assistant.database.pool.InstrumentedAsyncPool`,
since no event exists for them.

``snapshot()`` returns an immutable :class:`PoolStats`: counts and latency sketches,
from which ratios and percentiles are derived. Because it holds counts (not rounded
ratios) and sketches (not percentiles), :func:`merge_pool_stats` combines several
workers' figures exactly; ``to_wire()``/``from_wire()`` carry one through JSON (Redis),
``as_dict()`` is the body the endpoints show.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
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

#: The :class:`PoolStats` fields that are latency sketches; every other field is a count.
_SKETCHES = ("checkout_wait", "connection_use", "connection_create")

#: The keys of :meth:`PoolStats.as_dict` (fields and derived figures), in body order.
_BODY = (
    "pool_size", "max_overflow", "capacity", "checked_out", "checked_in", "overflow",
    "utilization", "total_checkouts", "connections_created", "connections_closed",
    "reuse_ratio", "waited_checkouts", "wait_ratio", "pending_requests",
    "checkout_wait_ms", "connection_use_ms", "connection_create_ms",
    "timeouts", "timeouts_last_minute", "invalidations", "disconnects_recovered",
)  # fmt: skip


def _ratio(part: int, whole: int, empty: float) -> float:
    return round(part / whole, 4) if whole else empty


def _merged(sketches: Iterable[LatencySketch]) -> LatencySketch:
    """A new sketch holding all of ``sketches`` (which stay untouched)."""
    total = LatencySketch()
    for sketch in sketches:
        total.merge(sketch)
    return total


@dataclass(frozen=True)
class PoolStats:
    """A consistent view of one pool, or of several merged, at one moment.

    Only counts and sketches are stored; ratios and percentiles are derived from them,
    so merging workers sums counts and merges sketches, and nothing is rebuilt from a
    rounded figure.
    """

    pool_size: int
    max_overflow: int
    checked_out: int
    checked_in: int
    overflow: int
    pending_requests: int
    total_checkouts: int
    reused_checkouts: int
    waited_checkouts: int
    connections_created: int
    connections_closed: int
    timeouts: int
    timeouts_last_minute: int
    invalidations: int
    disconnects_recovered: int
    checkout_wait: LatencySketch
    connection_use: LatencySketch
    connection_create: LatencySketch

    @property
    def capacity(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def utilization(self) -> float:
        return _ratio(self.checked_out, self.capacity, 0.0)

    @property
    def reuse_ratio(self) -> float:
        """Checkouts served by an already open connection ÷ all checkouts."""
        return _ratio(self.reused_checkouts, self.total_checkouts, 1.0)

    @property
    def wait_ratio(self) -> float:
        return _ratio(self.waited_checkouts, self.total_checkouts, 0.0)

    @property
    def checkout_wait_ms(self) -> dict[str, float | int]:
        return self.checkout_wait.summary().as_dict()

    @property
    def connection_use_ms(self) -> dict[str, float | int]:
        return self.connection_use.summary().as_dict()

    @property
    def connection_create_ms(self) -> dict[str, float | int]:
        return self.connection_create.summary().as_dict()

    def as_dict(self) -> dict[str, Any]:
        """The JSON body: counts, ratios and percentile summaries (no sketches)."""
        return {key: getattr(self, key) for key in _BODY}

    def to_wire(self) -> dict[str, Any]:
        """A JSON-able form: the counts as they are, each sketch in its wire form."""
        wire: dict[str, Any] = {name: getattr(self, name) for name in _COUNTS}
        wire.update((name, getattr(self, name).to_wire()) for name in _SKETCHES)
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PoolStats:
        """The :class:`PoolStats` that :meth:`to_wire` described."""
        values: dict[str, Any] = {name: int(data[name]) for name in _COUNTS}
        values.update((name, LatencySketch.from_wire(data[name])) for name in _SKETCHES)
        return cls(**values)


_COUNTS = tuple(f.name for f in fields(PoolStats) if f.name not in _SKETCHES)


def merge_pool_stats(stats: Iterable[PoolStats]) -> PoolStats:
    """One view of several pools (e.g. one per worker): counts summed, sketches merged.

    Percentiles come from the merged sketches, never from averaging each pool's (the
    p95 of a union is not the mean of p95s). Merging one pool gives its own figures.
    """
    pools = list(stats)
    values: dict[str, Any] = {name: sum(getattr(p, name) for p in pools) for name in _COUNTS}
    values.update((name, _merged(getattr(p, name) for p in pools)) for name in _SKETCHES)
    return PoolStats(**values)


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

    # -- measurements from InstrumentedAsyncPool (given this collector at construction) --
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
        return PoolStats(
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            checked_out=checked_out,
            checked_in=checked_in,
            overflow=overflow,
            pending_requests=self._pending,
            total_checkouts=self._counts[CHECKOUTS],
            reused_checkouts=self._counts[REUSED],
            waited_checkouts=self._counts[WAITED],
            connections_created=self._counts[CREATED],
            connections_closed=self._counts[CLOSED],
            timeouts=self._counts[TIMEOUTS],
            timeouts_last_minute=self._recent_timeout_count(),
            invalidations=self._counts[INVALIDATIONS],
            disconnects_recovered=self._counts[RECOVERED],
            # Copies: the snapshot must not move while the pool keeps working.
            checkout_wait=_merged([self._wait]),
            connection_use=_merged([self._use]),
            connection_create=_merged([self._create]),
        )
