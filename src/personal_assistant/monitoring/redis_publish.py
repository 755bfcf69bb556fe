"""Worker snapshots in Redis: each worker writes its own key with a TTL.

A worker that dies stops refreshing its key and drops out of the aggregate once the
TTL passes, so no registry of workers has to be kept. Every Redis failure surfaces
as :class:`~personal_assistant.monitoring.errors.RedisUnavailableError` (converted by
``wrap_redis_errors()``); callers fall back to per-process figures and say so. After a
failure Redis is left alone for :data:`COOLDOWN_S`, so an outage costs one timeout,
not one per request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis

from personal_assistant.monitoring.errors import RedisUnavailableError, wrap_redis_errors

#: Seconds Redis is skipped after a failure.
COOLDOWN_S = 5.0


class SnapshotStore:
    """Publish and collect worker snapshots under ``{prefix}:worker:*``."""

    def __init__(self, url: str, *, prefix: str, ttl_s: float, timeout_s: float) -> None:
        self._client: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._prefix = prefix
        self._ttl_ms = int(ttl_s * 1000)
        self._down_until = 0.0

    def _key(self, worker_id: str) -> str:
        return f"{self._prefix}:worker:{worker_id}"

    @contextmanager
    def _calling(self, operation: str) -> Iterator[None]:
        """Skip the call during the cooldown; start one when the call fails."""
        if time.monotonic() < self._down_until:
            raise RedisUnavailableError(operation)
        try:
            with wrap_redis_errors(operation):
                yield
        except RedisUnavailableError:
            self._down_until = time.monotonic() + COOLDOWN_S
            raise

    async def publish(self, worker_id: str, snapshot: dict[str, Any]) -> None:
        with self._calling("publishing this worker's snapshot"):
            await self._client.set(self._key(worker_id), json.dumps(snapshot), px=self._ttl_ms)

    async def collect(self) -> list[dict[str, Any]]:
        """Every live worker's snapshot."""
        with self._calling("collecting the worker snapshots"):
            keys = [key async for key in self._client.scan_iter(match=self._key("*"), count=100)]
            values = await self._client.mget(keys) if keys else []
        return [json.loads(v) for v in values if v is not None]

    async def remove(self, worker_id: str) -> None:
        """Drop this worker's key at shutdown, rather than waiting for its TTL."""
        with wrap_redis_errors("removing this worker's snapshot"):
            await self._client.delete(self._key(worker_id))

    async def try_lead(self, worker_id: str, ttl_s: float) -> bool:
        """Hold the alert-sender lease: one worker posts each alert, not every worker."""
        key = f"{self._prefix}:alert-leader"
        ttl_ms = int(ttl_s * 1000)
        with self._calling("renewing the alert-sender lease"):
            if await self._client.set(key, worker_id, nx=True, px=ttl_ms):
                return True
            holder = await self._client.get(key)
            if holder in (worker_id, worker_id.encode()):
                await self._client.pexpire(key, ttl_ms)
                return True
        return False

    async def close(self) -> None:
        await self._client.aclose()
