"""Worker snapshots in Redis: each worker writes its own key with a TTL.

A worker that dies stops refreshing its key and drops out of the aggregate once the
TTL passes, so no registry of workers has to be kept. Every Redis error is one of
:data:`REDIS_ERRORS`; callers fall back to per-process figures and say so. After a
failure Redis is left alone for :data:`COOLDOWN_S`, so an outage costs one timeout,
not one per request.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

#: What a Redis call can raise: the client's own errors, sockets, our own timeout.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
#: Seconds Redis is skipped after a failure.
COOLDOWN_S = 5.0


class RedisUnavailableError(Exception):
    """Raised when Redis is in its cooldown after a failure (nothing was attempted)."""


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

    def _check_cooldown(self) -> None:
        if time.monotonic() < self._down_until:
            raise RedisUnavailableError("redis failed recently; retrying in a few seconds")

    def _failed(self) -> None:
        self._down_until = time.monotonic() + COOLDOWN_S

    async def publish(self, worker_id: str, snapshot: dict[str, Any]) -> None:
        self._check_cooldown()
        try:
            await self._client.set(self._key(worker_id), json.dumps(snapshot), px=self._ttl_ms)
        except REDIS_ERRORS:
            self._failed()
            raise

    async def collect(self) -> list[dict[str, Any]]:
        """Every live worker's snapshot."""
        self._check_cooldown()
        try:
            keys = [key async for key in self._client.scan_iter(match=self._key("*"), count=100)]
            values = await self._client.mget(keys) if keys else []
        except REDIS_ERRORS:
            self._failed()
            raise
        return [json.loads(v) for v in values if v is not None]

    async def remove(self, worker_id: str) -> None:
        """Drop this worker's key at shutdown, rather than waiting for its TTL."""
        await self._client.delete(self._key(worker_id))

    async def try_lead(self, worker_id: str, ttl_s: float) -> bool:
        """Hold the alert-sender lease: one worker posts each alert, not every worker."""
        self._check_cooldown()
        key = f"{self._prefix}:alert-leader"
        ttl_ms = int(ttl_s * 1000)
        try:
            if await self._client.set(key, worker_id, nx=True, px=ttl_ms):
                return True
            holder = await self._client.get(key)
            if holder in (worker_id, worker_id.encode()):
                await self._client.pexpire(key, ttl_ms)
                return True
        except REDIS_ERRORS:
            self._failed()
            raise
        return False

    async def close(self) -> None:
        await self._client.aclose()
