"""The SQLAlchemy internals InstrumentedAsyncPool relies on, pinned (no database needed).

``database/pool.py`` overrides two private pool methods and uses a few private pieces
(``_dec_overflow``, ``_queue_class``/``_pool``, the ``_dispatch`` constructor argument).
A SQLAlchemy release that renames or reshapes any of them fails here, by name, rather
than somewhere in the pool's behaviour; pyproject.toml keeps ``sqlalchemy<2.2`` until
a newer one has passed this file.
"""

from __future__ import annotations

import inspect
from typing import Any
from unittest.mock import Mock

import pytest
from sqlalchemy import event
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool, QueuePool

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.pool import InstrumentedAsyncPool
from personal_assistant.database.pool_stats import PoolStatsCollector

#: The private methods InstrumentedAsyncPool overrides.
OVERRIDDEN = ("_do_get", "_do_return_conn")


def parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def fake_pool(**arguments: Any) -> InstrumentedAsyncPool:
    """A pool whose 'connections' are mocks: enough to check out and return."""
    return InstrumentedAsyncPool(Mock, pool_size=2, max_overflow=3, **arguments)


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_the_overridden_private_methods_keep_sqlalchemys_signature(name: str) -> None:
    base = getattr(AsyncAdaptedQueuePool, name)
    assert getattr(InstrumentedAsyncPool, name) is not base
    assert parameters(getattr(InstrumentedAsyncPool, name)) == parameters(base)


def test_the_private_pieces_the_pool_calls_still_exist() -> None:
    assert parameters(QueuePool._dec_overflow) == parameters(lambda self: None)
    queue = [name for name, _ in parameters(AsyncAdaptedQueuePool._queue_class)]
    assert queue == ["maxsize", "use_lifo"]
    assert "_dispatch" in inspect.signature(Pool.__init__).parameters


def test_the_queue_has_room_for_overflow_connections() -> None:
    pool = fake_pool()
    assert isinstance(pool._pool, AsyncAdaptedQueuePool._queue_class)
    assert (pool._pool.maxsize, pool.size()) == (5, 2)


async def test_create_engine_hands_the_grace_and_the_collector_to_the_pool() -> None:
    config = DatabaseConfig(
        url="postgresql+asyncpg://app@127.0.0.1:9/app",
        pool_size=2,
        max_overflow=3,
        pool_timeout=4.0,
        pool_overflow_grace=7.0,
    )
    collector = PoolStatsCollector(2, 3)
    engine = create_engine_from_config(config, collector)
    try:
        pool = engine.sync_engine.pool
        assert isinstance(pool, InstrumentedAsyncPool)
        assert (pool._pa_grace, pool._pa_stats) == (7.0, collector)
        assert (pool.size(), pool.timeout()) == (2, 4.0)
    finally:
        await engine.dispose()


def test_a_recreated_pool_keeps_its_configuration_listeners_and_collector() -> None:
    collector = PoolStatsCollector(2, 3)
    pool = fake_pool(timeout=4.0, overflow_grace=7.0, stats_collector=collector)
    checkouts: list[object] = []
    event.listen(pool, "checkout", lambda *args: checkouts.append(args))
    new = pool.recreate()
    assert (new.size(), new.timeout(), new._pool.maxsize, new._pa_grace) == (2, 4.0, 5, 7.0)
    new.connect().close()
    stats = collector.snapshot()
    assert len(checkouts) == 1
    # Timed once per new connection: the creator is not wrapped a second time.
    assert (stats.connection_create.count, stats.checkout_wait.count) == (1, 1)
