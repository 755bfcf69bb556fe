"""run_sync: greenlet_spawn's contract, on reused greenlets (no database needed)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from sqlalchemy.util.concurrency import await_, greenlet_spawn

from personal_assistant.database import greenlets
from personal_assistant.database.greenlets import run_sync

REQUEST = contextvars.ContextVar("request", default="none")


def add_later(a: int, b: int) -> int:
    return await_(asyncio.sleep(0.01, result=a)) + b


async def test_it_returns_what_the_function_returns_and_lets_it_await() -> None:
    assert await run_sync(add_later, 2, 3) == 5


async def test_it_raises_what_the_function_raises_and_the_runner_is_reused() -> None:
    def fail() -> None:
        await_(asyncio.sleep(0))
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await run_sync(fail)
    idle = greenlets._idle()
    runner = idle[-1]
    assert await run_sync(add_later, 1, 1) == 2
    assert idle[-1] is runner


async def test_concurrent_calls_each_get_their_own_runner() -> None:
    results = await asyncio.gather(*(run_sync(add_later, i, i) for i in range(20)))
    assert results == [2 * i for i in range(20)]
    assert len(greenlets._idle()) >= 20


async def test_cancellation_reaches_the_function_which_can_clean_up() -> None:
    cleaned: list[str] = []

    def wait_forever() -> None:
        try:
            await_(asyncio.sleep(60))
        finally:
            cleaned.append("done")
            await_(asyncio.sleep(0))  # awaiting in cleanup still works

    task = asyncio.create_task(run_sync(wait_forever))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["done"]
    assert await run_sync(add_later, 4, 4) == 8


async def test_the_function_sees_the_callers_context_variables() -> None:
    def read() -> str:
        await_(asyncio.sleep(0))
        return REQUEST.get()

    async def as_request(name: str) -> str:
        REQUEST.set(name)
        return await run_sync(read)

    assert list(await asyncio.gather(as_request("a"), as_request("b"))) == ["a", "b"]


async def test_inside_another_greenlet_it_falls_back_to_greenlet_spawn() -> None:
    def outer() -> int:
        # In a greenlet already: run_sync must not switch to the thread's root.
        return await_(run_sync(add_later, 5, 5))

    assert await greenlet_spawn(outer) == 10
