"""Alert webhook: retries with backoff, never blocks the caller."""

from __future__ import annotations

import asyncio
import time

import httpx
from tenacity import AsyncRetrying, RetryCallState

from personal_assistant.monitoring.webhook import MAX_DELAY_S, WebhookNotifier, backoff


def test_backoff_grows_and_is_capped() -> None:
    wait, state = backoff(1.0), RetryCallState(AsyncRetrying(), None, (), {})
    delays = []
    for attempt in range(1, 12):
        state.attempt_number = attempt
        delays.append(wait(state))
    assert delays[0] < delays[2] < delays[4]
    assert max(delays) <= MAX_DELAY_S


async def test_a_failing_webhook_is_retried_until_it_answers() -> None:
    calls: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append({"body": request.read()})
        return httpx.Response(500 if len(calls) < 3 else 204)

    notifier = WebhookNotifier(
        "http://alerts.test/hook", transport=httpx.MockTransport(handler), initial_delay_s=0.01
    )
    notifier.start()
    try:
        notifier.notify({"event": "alert_raised"})
        for _ in range(200):
            if notifier.delivered:
                break
            await asyncio.sleep(0.01)
    finally:
        await notifier.stop()
    assert len(calls) == 3 and notifier.delivered == 1


async def test_notify_returns_at_once_even_when_the_webhook_hangs() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(204)

    notifier = WebhookNotifier("http://alerts.test/hook", transport=httpx.MockTransport(hang))
    notifier.start()
    try:
        started = time.perf_counter()
        for i in range(500):
            notifier.notify({"n": i})
        assert time.perf_counter() - started < 0.1
        assert notifier.dropped > 0  # the queue is bounded
    finally:
        await notifier.stop()
