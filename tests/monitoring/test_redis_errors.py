"""``wrap_redis_errors()`` and the snapshot store's cooldown, without a Redis server."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from personal_assistant.database.errors import DatabaseTimeoutError
from personal_assistant.monitoring.errors import (
    MonitoringError,
    RedisUnavailableError,
    failure_reason,
    wrap_redis_errors,
)
from personal_assistant.monitoring.redis_publish import SnapshotStore


def test_a_redis_error_becomes_redis_unavailable_from_the_original() -> None:
    original = RedisConnectionError("Error 111 connecting to 10.0.0.5:6379")
    with pytest.raises(RedisUnavailableError) as info, wrap_redis_errors("collecting"):
        raise original
    assert info.value.__cause__ is original and info.value.original is original
    assert "10.0.0.5" not in str(info.value)
    assert failure_reason(info.value) == "ConnectionError"


def test_cancellation_and_bugs_are_not_converted() -> None:
    for exc in (asyncio.CancelledError(), ValueError("bug")):
        with pytest.raises(type(exc)), wrap_redis_errors("collecting"):
            raise exc


def test_a_database_timeout_reads_timed_out() -> None:
    assert failure_reason(DatabaseTimeoutError("x", TimeoutError())) == "timed out"


async def test_after_a_failure_redis_is_skipped_during_the_cooldown() -> None:
    store = SnapshotStore("redis://127.0.0.1:1/0", prefix="t", ttl_s=5, timeout_s=0.2)
    try:
        with pytest.raises(MonitoringError) as first:
            await store.collect()
        with pytest.raises(RedisUnavailableError) as second:
            await store.publish("w1", {})
    finally:
        await store.close()
    assert first.value.original is not None
    assert second.value.original is None and "left alone" in str(second.value)
