"""Event-loop lag: how late the process's event loop wakes a sleeping task.

A statement's client time includes every moment its result waited for the event loop:
while a coroutine computes without awaiting, nothing else runs, and a query the
database answered in 0.1 ms looks like 200 ms to the tracker. :class:`LoopLagMonitor`
schedules one timer callback :data:`INTERVAL_S` ahead, again and again, and records
how late each one ran (a plain callback, not a task: a few microseconds of work twenty
times a second; waking an idle process costs more than that: about 0.4% of a core was
measured on an idle loop). The figures:

* a rolling-window sketch of the lags (p50, p99, max: :meth:`LoopLagMonitor.summary`),
  published with the worker's snapshot;
* the recent late wake-ups themselves, as intervals during which the loop was busy
  elsewhere: :meth:`LoopLagMonitor.blocked_ms` sums how much of a statement's flight
  time they cover, which is how much of its client time the loop, not the database,
  is to blame for.

After a wake-up more than :data:`CHASE_MS` late, the next one is scheduled for the very
next turn of the loop instead of an interval later: while the loop is busy, every
stretch of it is measured (one callback per turn, a turn being long), so a run of
blocks is seen whole. The monitor sees a spell only from the moment its own timer fell
due, so it can under-count its start by up to one interval; it never over-counts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from personal_assistant.database.latency import LatencySketch, LatencySummary
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.tracker import RollingSketch

#: Seconds between wake-ups: the resolution of the measure, and its cost (20 per s).
INTERVAL_S = 0.05
#: Lags below this are scheduling noise, not a blocked loop: not kept as intervals.
BLOCK_FLOOR_MS = 1.0
#: A wake-up this late means a busy loop: measure again at the next turn, not later.
CHASE_MS = 10.0
#: Late wake-ups kept for :meth:`LoopLagMonitor.blocked_ms` (minutes of a busy loop).
MAX_BLOCKS = 4096


def overlap_ms(blocks: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Milliseconds of ``[start, end]`` (``perf_counter`` seconds) covered by ``blocks``."""
    covered = 0.0
    for block_start, block_end in blocks:
        covered += max(0.0, min(end, block_end) - max(start, block_start))
    return covered * 1000.0


class LoopLagMonitor:
    """Lag of the running event loop; see the module docstring."""

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._window = RollingSketch(window_s)
        self._blocks: deque[tuple[float, float]] = deque(maxlen=MAX_BLOCKS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- measuring ---------------------------------------------------------------------
    def observe(self, lag_ms: float, woke_at: float) -> None:
        """Record one wake-up ``lag_ms`` late, at ``woke_at`` (``perf_counter`` seconds)."""
        self._window.add(lag_ms, self.clock())
        if lag_ms >= BLOCK_FLOOR_MS:
            self._blocks.append((woke_at - lag_ms / 1000.0, woke_at))

    def _schedule(self, delay_s: float) -> None:
        assert self._loop is not None
        due = time.perf_counter() + delay_s
        self._timer = self._loop.call_later(delay_s, self._tick, due)

    def _tick(self, due: float) -> None:
        woke = time.perf_counter()
        lag_ms = max(woke - due, 0.0) * 1000.0
        self.observe(lag_ms, woke)
        self._schedule(0.0 if lag_ms >= CHASE_MS else self.interval_s)

    def start(self) -> None:
        """Measure the running loop until :meth:`stop`."""
        if self._timer is None:
            self._loop = asyncio.get_running_loop()
            self._schedule(self.interval_s)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- reading -----------------------------------------------------------------------
    def blocked_ms(self, start: float, end: float) -> float:
        """How long the loop was seen busy elsewhere between ``start`` and ``end``."""
        return overlap_ms(self._blocks, start, end)

    def sketch(self) -> LatencySketch:
        """The rolling window's lags."""
        return self._window.merged(self.clock())

    def summary(self) -> LatencySummary:
        return self.sketch().summary()

    def wire(self) -> dict[str, Any]:
        """The window as published with the worker's snapshot."""
        return {"interval_s": self.interval_s, "window": sketch_codec.encode(self.sketch())}


def merged_lag(wires: Sequence[Mapping[str, Any]]) -> LatencySketch:
    """One sketch of every worker's lags (each a :meth:`LoopLagMonitor.wire`)."""
    return sketch_codec.merged([w["window"] for w in wires])


def lag_view(by_worker: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The lag over every worker, and each worker's own (it is a per-process figure)."""
    workers = [
        {"worker": worker, **sketch_codec.decode(wire["window"]).summary().as_dict()}
        for worker, wire in by_worker.items()
    ]
    return {
        "window_ms": merged_lag(list(by_worker.values())).summary().as_dict(),
        "interval_s": next(iter(by_worker.values()))["interval_s"] if by_worker else INTERVAL_S,
        "workers": workers,
    }
