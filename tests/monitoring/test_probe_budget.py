"""Probe budgets: a shared probe answers each caller by its own deadline.

Timing targets live in ``bench/probe_budget_bench.py``; the bounds here are generous
(a second past the budget) so that they cannot flake on a busy machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring import db_probe
from personal_assistant.monitoring.budget import Deadline
from personal_assistant.monitoring.db_probe import SharedProbe
from personal_assistant.monitoring.health import ProbeFailure, ProbeResult

CONFIG = DatabaseConfig(url="postgresql+asyncpg://app@127.0.0.1:1/app")
PASSED = ProbeResult(
    response_ms=1.0, server_version="16", database="app", connections=1, max_connections=100
)


@pytest.fixture
def slow_probe(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The probe answers a pass after 0.5 s; returns the start times of real probes."""
    starts: list[float] = []

    async def slow(config: Any, timeout_s: float, **kwargs: Any) -> ProbeResult:
        starts.append(time.monotonic())
        await asyncio.sleep(0.5)
        return PASSED

    monkeypatch.setattr(db_probe, "probe", slow)
    return starts


async def test_a_caller_whose_deadline_passes_gets_the_timeout_answer(
    slow_probe: list[float],
) -> None:
    shared = SharedProbe(0.0)
    result = await shared.get(CONFIG, 2.0, Deadline.after(0.1))
    assert isinstance(result, ProbeFailure)
    assert result.reason.startswith("no answer within 0.1 s")  # the budget of the request
    assert 90 <= result.elapsed_ms < 1000


async def test_the_probe_goes_on_for_callers_with_time_left(slow_probe: list[float]) -> None:
    shared = SharedProbe(0.0)
    early, patient = await asyncio.gather(
        shared.get(CONFIG, 2.0, Deadline.after(0.05)), shared.get(CONFIG, 2.0, Deadline.after(5.0))
    )
    assert isinstance(early, ProbeFailure) and patient == PASSED
    assert len(slow_probe) == 1


async def test_the_last_result_and_its_age_are_kept(slow_probe: list[float]) -> None:
    shared = SharedProbe(0.0)
    assert shared.last is None
    await shared.get(CONFIG, 2.0)
    await asyncio.sleep(0.05)
    last = shared.last
    assert last is not None and last[0] == PASSED and 0.04 < last[1] < 1.0


async def test_a_timed_out_wait_is_not_cached_as_the_probe_result(
    slow_probe: list[float],
) -> None:
    shared = SharedProbe(60.0)
    await shared.get(CONFIG, 2.0, Deadline.after(0.01))
    assert shared.last is None  # only a real probe's answer is cached
    assert await shared.get(CONFIG, 2.0) == PASSED
