"""The engine's pool: SQLAlchemy's asyncio queue pool, instrumented and less churny.

Two changes to ``AsyncAdaptedQueuePool``, both in the methods where the behaviour
lives:

* ``_do_get`` is where a checkout waits for a free connection: it is timed (no event
  exists for it) and its ``TimeoutError`` becomes a :class:`PoolExhaustedError` that
  says what to change.
* SQLAlchemy closes an overflow connection the moment it is returned while
  ``pool_size`` connections are idle, so a load hovering above ``pool_size`` opens
  and closes connections several times a second (each a new server process). Here the
  queue has room for overflow connections too, and a returned one is closed only when
  ``pool_size`` connections are already idle *and* no checkout has found the pool
  empty for ``pool_overflow_grace`` seconds. With a grace of 0 it behaves exactly as
  SQLAlchemy's pool.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import queue as sqla_queue

from personal_assistant.database.errors import PoolExhaustedError

if TYPE_CHECKING:
    from personal_assistant.database.pool_stats import PoolStatsCollector


class InstrumentedAsyncPool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` with wait timing, named exhaustion and overflow grace."""

    pa_stats: PoolStatsCollector | None = None
    pa_overflow_grace: float = 0.0

    def __init__(
        self,
        creator: Any,
        pool_size: int = 5,
        max_overflow: int = 10,
        timeout: float = 30.0,
        use_lifo: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(
            creator,
            pool_size=pool_size,
            max_overflow=max_overflow,
            timeout=timeout,
            use_lifo=use_lifo,
            **kw,
        )
        self._pa_size = pool_size
        self._pa_use_lifo = use_lifo
        self._pa_demand_at = 0.0
        if pool_size > 0 and max_overflow > 0:
            # Room for idle overflow connections; _do_return_conn decides whom to keep.
            self._pool = self._queue_class(pool_size + max_overflow, use_lifo=use_lifo)

    # The queue is larger than pool_size now: these read the configured size instead.
    def size(self) -> int:
        return self._pa_size

    def checkedout(self) -> int:
        return self._pa_size - self._pool.qsize() + self._overflow

    def _do_get(self) -> ConnectionPoolEntry:
        empty = self._pool.qsize() == 0
        if empty:
            self._pa_demand_at = time.monotonic()
        stats = self.pa_stats
        if stats is None:
            return super()._do_get()
        must_wait = empty and self._overflow >= self._max_overflow
        started = time.perf_counter()
        if must_wait:
            stats.waiting(+1)
        try:
            entry = super()._do_get()
        except SATimeoutError as exc:
            stats.record_wait(time.perf_counter() - started, waited=True)
            stats.record_timeout()
            raise PoolExhaustedError(
                capacity=self.size() + self._max_overflow,
                timeout_s=self._timeout,
                checked_out=self.checkedout(),
            ) from exc
        finally:
            if must_wait:
                stats.waiting(-1)
        stats.record_wait(time.perf_counter() - started, waited=must_wait)
        return entry

    def _create_connection(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        entry = super()._create_connection()
        if self.pa_stats is not None:
            self.pa_stats.record_create(time.perf_counter() - started)
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        recently_needed = time.monotonic() - self._pa_demand_at < self.pa_overflow_grace
        if self._pool.qsize() < self._pa_size or recently_needed:
            try:
                self._pool.put(record, False)
                return
            except sqla_queue.Full:
                pass
        try:
            record.close()
        finally:
            self._dec_overflow()

    def recreate(self) -> InstrumentedAsyncPool:
        # As QueuePool.recreate, but with the configured size, not the queue's.
        self.logger.info("Pool recreating")
        new = self.__class__(
            self._creator,
            pool_size=self._pa_size,
            max_overflow=self._max_overflow,
            pre_ping=self._pre_ping,
            use_lifo=self._pa_use_lifo,
            timeout=self._timeout,
            recycle=self._recycle,
            echo=self.echo,
            logging_name=self._orig_logging_name,
            reset_on_return=self._reset_on_return,
            _dispatch=self.dispatch,
            dialect=self._dialect,
        )
        new.pa_stats = self.pa_stats
        new.pa_overflow_grace = self.pa_overflow_grace
        return new
