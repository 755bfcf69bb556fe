"""Alert delivery to ``ALERT_WEBHOOK_URL``, off the request path.

:meth:`WebhookNotifier.notify` only appends to a bounded queue and returns; a
background task posts each payload with retries, exponential backoff and jitter. A
webhook that is down therefore never slows a request, and a long outage drops the
oldest alerts (logged) instead of growing memory. The waits between attempts are
tenacity's ``wait_exponential_jitter``, the backoff the database layer uses too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

logger = logging.getLogger(__name__)

ATTEMPTS = 5
INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 30.0
BACKOFF = 2.0
#: Random extra wait, as a share of the first delay, so retries do not fall in step.
JITTER = 0.1
TIMEOUT_S = 5.0
MAX_QUEUE = 100


def backoff(initial: float = INITIAL_DELAY_S) -> wait_base:
    """The wait before each retry: ``initial`` times ``BACKOFF`` per attempt, capped."""
    return wait_exponential_jitter(
        multiplier=initial, max=MAX_DELAY_S, exp_base=BACKOFF, jitter=initial * JITTER
    )


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
        self._wait = backoff(initial_delay_s)
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

    async def _post(self, payload: dict[str, Any]) -> str | None:
        """One attempt: ``None`` when delivered, else why not."""
        try:
            response = await self._client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _deliver(self, payload: dict[str, Any]) -> bool:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_result(lambda reason: reason is not None),
            # Out of attempts: hand back the last reason rather than raise RetryError.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else "?",
        )
        reason: str | None = await retrying(self._post, payload)
        if reason is None:
            self.delivered += 1
            return True
        logger.warning("alert webhook failed %d times (%s); alert dropped", self._attempts, reason)
        return False
