"""Retrying a step blocked by a lock: attempts, announcements, giving up, backoff."""

from __future__ import annotations

import asyncio

import pytest

from personal_assistant.database.migrations.errors import (
    MigrationBlockedError,
    MigrationFailedError,
)
from personal_assistant.database.migrations.lock_retry import Blocked, LockRetry
from personal_assistant.database.migrations.sql_parse import parse_statements

(STMT,) = parse_statements("\nALTER TABLE items ADD COLUMN note text", path="0003_note.sql")
QUICK = LockRetry(retries=2, delay_s=0.001, max_delay_s=0.002, jitter_s=0.0)


async def test_a_step_is_retried_until_it_gets_its_lock() -> None:
    seen: list[str] = []

    async def step(attempt: int) -> str:
        if attempt < 3:
            raise Blocked.at(STMT, f"pid {attempt}")
        return "done"

    assert await QUICK.run(step, path="0003_note.sql", on_retry=seen.append) == ("done", 3)
    assert seen == ["pid 1", "pid 2"]


async def test_retries_run_out_with_an_error_naming_line_attempts_and_blockers() -> None:
    async def step(attempt: int) -> None:
        raise Blocked.at(STMT, "pid 42 (report-job)")

    with pytest.raises(MigrationBlockedError) as info:
        await QUICK.run(step, path="0003_note.sql", on_retry=lambda _: None)
    assert (info.value.line, info.value.attempts) == (2, 3)
    assert "0003_note.sql:2" in str(info.value) and "pid 42 (report-job)" in str(info.value)


async def test_other_failures_are_not_retried() -> None:
    attempts: list[int] = []

    async def step(attempt: int) -> None:
        attempts.append(attempt)
        raise MigrationFailedError("0003_note.sql", 2, STMT.sql, "boom")

    with pytest.raises(MigrationFailedError):
        await QUICK.run(step, path="0003_note.sql", on_retry=lambda _: None)
    assert attempts == [1]


async def test_waits_double_up_to_the_cap_plus_bounded_jitter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:  # a spy: records, then yields
        waits.append(seconds)
        await real_sleep(0)

    async def step(attempt: int) -> None:
        raise Blocked.at(STMT, "pid 42")

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    policy = LockRetry(retries=4, delay_s=0.5, max_delay_s=1.5, jitter_s=0.25)
    with pytest.raises(MigrationBlockedError):
        await policy.run(step, path="0003_note.sql", on_retry=lambda _: None)
    lows = [0.5, 1.0, 1.5, 1.5]
    assert len(waits) == len(lows)
    assert all(low <= w <= min(low + 0.25, 1.5) for low, w in zip(lows, waits, strict=True))
