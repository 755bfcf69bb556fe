"""Probe budgets: a shared probe answers each caller by its own deadline.

Timing targets live in ``bench/probe_budget_bench.py``; the bounds here are generous
(a second past the budget) so that they cannot flake on a busy machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring import db_probe
from personal_assistant.monitoring.budget import Deadline
from personal_assistant.monitoring.db_probe import SharedProbe
from personal_assistant.monitoring.health import ProbeFailure, ProbeResult
from tests.fixtures.postgres import PostgresCluster
from tests.monitoring.conftest import MonitoredApp

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


async def test_readiness_fits_the_probe_and_the_migration_read_in_one_budget(
    monitored_app: MonitoredApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe passes after 1.5 s of the 2 s budget; the migration read then hangs.
    monkeypatch.setattr(db_probe, "PROBE_SQL", db_probe.PROBE_SQL + ", pg_sleep(1.5) AS slept")

    async def hanging(engine: Any) -> list[str]:
        await asyncio.sleep(30)
        return []

    async with monitored_app(pending=hanging, health_db_timeout=2.0) as (app, client):
        started = time.perf_counter()
        response = await client.get("/health/ready")
        elapsed = time.perf_counter() - started
        for _ in range(60):  # the shared read ends at its own timeout: let it finish here
            if not app.state.monitoring.migrations_read.in_flight:
                break
            await asyncio.sleep(0.1)
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["postgresql:reachable"][0]["status"] == "pass"
    assert body["checks"]["migrations:pending"][0]["output"].startswith("no answer within 2 s")
    assert elapsed < 3.0  # budget + 1 s; one timeout per step took 3.5 s


async def test_concurrent_checks_of_a_hung_server_all_answer_by_the_budget(
    monitored_app: MonitoredApp, own_cluster: PostgresCluster
) -> None:
    config = DatabaseConfig(url=own_cluster.url(), pool_size=2, max_overflow=0, connect_retries=0)
    pid = int((Path(own_cluster.data_dir) / "postmaster.pid").read_text().split()[0])
    async with monitored_app(config=config, health_db_timeout=1.0) as (_, client):
        os.kill(pid, signal.SIGSTOP)  # accepts TCP, never answers the handshake
        try:

            async def timed(path: str) -> tuple[int, float]:
                started = time.perf_counter()
                response = await client.get(path)
                return response.status_code, time.perf_counter() - started

            paths = ["/health/database", "/health/ready"] * 32
            answers = await asyncio.gather(*(timed(path) for path in paths))
        finally:
            os.kill(pid, signal.SIGCONT)
    assert {status for status, _ in answers} == {503}
    assert max(elapsed for _, elapsed in answers) < 2.0  # budget + 1 s
