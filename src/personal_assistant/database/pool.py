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
  empty for ``overflow_grace`` seconds. With a grace of 0 it behaves exactly as
  SQLAlchemy's pool.

Everything else goes through SQLAlchemy's public API: the overflow grace and the
statistics collector are constructor arguments (``create_async_engine`` hands a pool
class every argument its ``__init__`` names), connection creation is timed around the
``creator``, and the collector counts the rest from pool events. The private pieces
still used (``_do_get``, ``_do_return_conn``, ``_dec_overflow``, ``_pool``,
``_queue_class``, ``_dispatch``) are pinned by ``tests/database/test_pool_internals.py``,
so a SQLAlchemy upgrade that changes them fails there first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from personal_assistant.database.errors import PoolExhaustedError

if TYPE_CHECKING:
    from personal_assistant.database.pool_stats import PoolStatsCollector

#: Constructor arguments a recreated pool must not receive again: the listeners they
#: carry travel with ``_dispatch`` instead.
_NOT_REPEATED = ("_dispatch", "events")


def _timed(creator: Callable[[], Any], stats: PoolStatsCollector) -> Callable[[], Any]:
    """``creator``, reporting how long each new connection took (retries included)."""

    def timed_creator() -> Any:
        started = time.perf_counter()
        connection = creator()
        stats.record_create(time.perf_counter() - started)
        return connection

    return timed_creator


class InstrumentedAsyncPool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` with wait timing, named exhaustion and overflow grace.

    ``creator`` takes no argument (as the one ``engine.py`` passes). Every argument is
    positional-or-keyword on purpose: SQLAlchemy forwards only those to a pool class.
    """

    def __init__(
        self,
        creator: Callable[[], Any],
        pool_size: int = 5,
        max_overflow: int = 10,
        timeout: float = 30.0,
        use_lifo: bool = False,
        overflow_grace: float = 0.0,
        stats_collector: PoolStatsCollector | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(
            _timed(creator, stats_collector) if stats_collector is not None else creator,
            pool_size=pool_size,
            max_overflow=max_overflow,
            timeout=timeout,
            use_lifo=use_lifo,
            **kw,
        )
        self._pa_arguments: dict[str, Any] = {
            "creator": creator,
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "timeout": timeout,
            "use_lifo": use_lifo,
            "overflow_grace": overflow_grace,
            "stats_collector": stats_collector,
            **{key: value for key, value in kw.items() if key not in _NOT_REPEATED},
        }
        self._pa_size = pool_size
        self._pa_capacity = pool_size + max_overflow
        self._pa_grace = overflow_grace
        self._pa_stats = stats_collector
        self._pa_demand_at = 0.0
        if pool_size > 0 and max_overflow > 0:
            # Room for idle overflow connections; _do_return_conn decides whom to keep.
            self._pool = self._queue_class(self._pa_capacity, use_lifo=use_lifo)

    # The queue is larger than pool_size now: these read the configured size instead.
    def size(self) -> int:
        return self._pa_size

    def checkedout(self) -> int:
        return self._pa_size - self.checkedin() + self.overflow()

    def _do_get(self) -> ConnectionPoolEntry:
        if self.checkedin() == 0:
            self._pa_demand_at = time.monotonic()
        stats = self._pa_stats
        if stats is None:
            return super()._do_get()
        must_wait = self.checkedout() >= self._pa_capacity
        started = time.perf_counter()
        if must_wait:
            stats.waiting(+1)
        try:
            entry = super()._do_get()
        except SATimeoutError as exc:
            stats.record_wait(time.perf_counter() - started, waited=True)
            stats.record_timeout()
            raise PoolExhaustedError(
                capacity=self._pa_capacity,
                timeout_s=self.timeout(),
                checked_out=self.checkedout(),
            ) from exc
        finally:
            if must_wait:
                stats.waiting(-1)
        stats.record_wait(time.perf_counter() - started, waited=must_wait)
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        recently_needed = time.monotonic() - self._pa_demand_at < self._pa_grace
        if self.checkedin() < self._pa_size or recently_needed:
            super()._do_return_conn(record)  # the queue has room: it is kept
            return
        try:
            record.close()
        finally:
            self._dec_overflow()

    def recreate(self) -> InstrumentedAsyncPool:
        # QueuePool.recreate would size the new pool from the (larger) queue and drop
        # our own arguments: rebuild from what this pool was given instead.
        self.logger.info("Pool recreating")
        return self.__class__(**self._pa_arguments, _dispatch=self.dispatch)
