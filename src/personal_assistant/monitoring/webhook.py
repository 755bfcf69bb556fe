"""Alert delivery to ``ALERT_WEBHOOK_URL``, off the request path.

:meth:`WebhookNotifier.notify` only appends to a bounded queue and returns; a
background task posts each payload with retries, exponential backoff and jitter. A
webhook that is down therefore never slows a request, and a long outage drops the
oldest alerts (logged) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from typing import Any

import httpx

logger = logging.getLogger(__name__)

ATTEMPTS = 5
INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 30.0
BACKOFF = 2.0
JITTER = 0.1
TIMEOUT_S = 5.0
MAX_QUEUE = 100


def backoff_delay(attempt: int, initial: float = INITIAL_DELAY_S) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, ±10% jitter."""
    base = min(initial * BACKOFF ** (attempt - 1), MAX_DELAY_S)
    return base * random.uniform(1 - JITTER, 1 + JITTER)


class WebhookNotifier:
    """Posts JSON payloads to one URL from a background task."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        initial_delay_s: float = INITIAL_DELAY_S,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.url = url
        self._client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S)
        self._initial = initial_delay_s
        self._attempts = attempts
        self._queue: deque[dict[str, Any]] = deque(maxlen=MAX_QUEUE)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.dropped = 0

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue ``payload``; never blocks, never raises."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
            logger.warning("alert webhook queue full; dropping the oldest alert")
        self._queue.append(payload)
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._deliver(self._queue.popleft())

    async def _deliver(self, payload: dict[str, Any]) -> bool:
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(self.url, json=payload)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            else:
                if response.is_success:
                    self.delivered += 1
                    return True
                reason = f"HTTP {response.status_code}"
            if attempt < self._attempts:
                await asyncio.sleep(backoff_delay(attempt, self._initial))
        logger.warning("alert webhook failed %d times (%s); alert dropped", self._attempts, reason)
        return False
