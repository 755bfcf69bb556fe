"""Judging the tracker's held slow statements: where the runtime joins the three sources.

Each round (the runtime's evaluation loop, and each ``/health/database/performance``)
takes the slow samples the tracker held, then a ``pg_stat_statements`` snapshot
(:mod:`.server_time`), and hands both, with the event-loop lag (:mod:`.loop_lag`), to
the rules in :mod:`.attribution`; the tracker then logs the slow queries and counts
the rest. Samples are taken *before* the snapshot, so each one's server part is
already in it. Rounds never overlap (a lock), so every delta is judged once. The
server's history is kept on the tracker's clock, so its window and the tracker's cover
the same time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseError
from personal_assistant.monitoring import attribution
from personal_assistant.monitoring.loop_lag import LoopLagMonitor
from personal_assistant.monitoring.server_time import ServerDelta, ServerTimes, read_server_times
from personal_assistant.monitoring.tracker import QueryTracker

#: The pg_stat_statements read gets at least this long: it matters most when the event
#: loop is busiest, and then every round trip of it waits for the loop.
MIN_READ_TIMEOUT_S = 5.0


@dataclass
class SlowJudge:
    """The state kept between rounds: the lag monitor, the server counters, the budgets."""

    loop_lag: LoopLagMonitor = field(default_factory=LoopLagMonitor)
    server_times: ServerTimes = field(default_factory=ServerTimes)
    timeout_s: float = MIN_READ_TIMEOUT_S
    _carried: dict[str, ServerDelta] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def for_window(cls, window_s: float, timeout_s: float) -> SlowJudge:
        timeout_s = max(timeout_s, MIN_READ_TIMEOUT_S)
        return cls(LoopLagMonitor(window_s=window_s), ServerTimes(window_s), timeout_s)

    def start(self, tracker: QueryTracker | None) -> None:
        self.loop_lag.start()
        if tracker is not None:
            tracker.defer_slow = True

    async def stop(self, tracker: QueryTracker | None) -> None:
        """Judge what is still held (by the loop lag alone) and hand slow samples back."""
        if tracker is not None:
            tracker.defer_slow = False
            self._judge(tracker, tracker.take_pending(), None, "not read at shutdown")
        self.loop_lag.stop()

    async def settle(self, tracker: QueryTracker | None) -> None:
        """One round; see the module docstring. Never raises for a database failure."""
        if tracker is None:
            return
        async with self._lock:
            samples = tracker.take_pending()
            server = await self._read(tracker, samples)
            self._judge(tracker, samples, server, self.server_times.reason)

    async def _read(
        self, tracker: QueryTracker, samples: tuple[attribution.SlowSample, ...]
    ) -> dict[str, ServerDelta] | None:
        try:
            config = db.get_config()
        except DatabaseError:
            self.server_times.unavailable("engine not initialized")
            return None
        wanted = {*tracker.fingerprints(), *(s.fingerprint for s in samples)}
        return await read_server_times(
            config, self.server_times, now=tracker.clock(), wanted=wanted, timeout_s=self.timeout_s
        )

    def _judge(
        self,
        tracker: QueryTracker,
        samples: tuple[attribution.SlowSample, ...],
        server: dict[str, ServerDelta] | None,
        note: str | None,
    ) -> None:
        judged = attribution.attribute(
            samples,
            server,
            slow_query_ms=tracker.slow_query_ms,
            blocked=self.loop_lag.blocked_ms,
            carried=self._carried,
            unknown_note=note or "no earlier pg_stat_statements snapshot to compare with",
        )
        self._carried = dict(judged.leftover)
        tracker.settle(judged)
