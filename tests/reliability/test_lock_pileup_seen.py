"""A lock pile-up under load is seen: by ``/health/database``, its detailed view and ``/metrics``.

``LOCK TABLE users IN ACCESS EXCLUSIVE MODE`` held by a session idle in its transaction
while 16 clients keep asking for permission checks: every request worker queues behind
the lock. The round trip of ``/health/database`` stays fast (its connection is its own
and touches no user table), so before ``database:blockedSessions`` the pile-up was
invisible. Now the check warns past ``HEALTH_BLOCKED_WARN_S`` and fails (503) past
``HEALTH_BLOCKED_FAIL_S``, the detailed view names the blocker's pid and state, the
gauges count the waiters, and all of it clears once the lock is released.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE
from tests.reliability.load import LoadGenerator, between

WARN_S = 1.0
FAIL_S = 3.0
CLIENTS = 16


async def poll_until(client: httpx.AsyncClient, status: str, within_s: float) -> httpx.Response:
    """GET ``/health/database`` until its status is ``status``; each answer must be quick."""
    deadline = time.monotonic() + within_s
    while True:
        started = time.monotonic()
        response = await client.get("/health/database")
        elapsed = time.monotonic() - started
        EVIDENCE.add("body:/health/database", response.text)
        assert elapsed < 2.5, f"/health/database took {elapsed:.1f} s during the pile-up"
        if response.json()["status"] == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


def gauges(text: str) -> dict[str, float]:
    return {
        f.name: f.samples[0].value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("pa_db_") and f.type == "gauge" and f.samples
    }


async def test_a_lock_pile_up_under_load_is_reported_then_clears(
    served: Serve, app_database: str
) -> None:
    app = served(
        app_database, pa_auto_migrate="true", pa_demo_data="true",
        database_lock_timeout="20000", health_blocked_warn_s=str(WARN_S),
        health_blocked_fail_s=str(FAIL_S),
    )  # fmt: skip
    dsn = app_database.replace("postgresql+asyncpg://", "postgresql://")
    async with (
        httpx.AsyncClient(base_url=app.base_url, timeout=10) as client,
        LoadGenerator(app.base_url, "/load/permission", CLIENTS, timeout_s=30) as load,
    ):
        assert (await client.get("/health/database")).json()["status"] == "pass"
        with psycopg.connect(dsn) as locker:
            locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            blocker = locker.info.backend_pid
            locked_at = time.monotonic()
            warned = await poll_until(client, "warn", within_s=FAIL_S)
            failed = await poll_until(client, "fail", within_s=FAIL_S + 5)
            detailed: dict[str, Any] = failed.json()  # local client: the detailed view
            metrics = gauges((await client.get("/metrics")).text)
            locker.rollback()
        released_at = time.monotonic()
        cleared = await poll_until(client, "pass", within_s=10)
        await asyncio.sleep(1.0)  # some requests after the release
        await load.stop()

    check = warned.json()["checks"]["database:blockedSessions"][0]
    assert check["status"] == "warn" and check["observedValue"] >= 1
    assert failed.status_code == 503
    failing = failed.json()["checks"]["database:blockedSessions"][0]
    assert failing["status"] == "fail" and "waiting on a lock" in failing["output"]

    sessions = detailed["sessions"]
    holders = {s["pid"]: s for s in sessions["blocking_sessions"]}
    assert blocker in holders, f"blocker {blocker} not in {list(holders)}"
    assert holders[blocker]["state"] == "idle in transaction"
    assert holders[blocker]["statement"] == "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"
    assert holders[blocker]["blocking"] == sessions["blocked"] >= CLIENTS // 2
    assert all(blocker in s["blocked_by"] for s in sessions["blocked_sessions"])
    assert sessions["longest_wait_s"] > FAIL_S

    assert metrics["pa_db_blocked_sessions"] >= CLIENTS // 2
    assert metrics["pa_db_lock_wait_max_seconds"] > FAIL_S

    assert cleared.json()["status"] == "pass"
    assert cleared.json()["sessions"]["blocked"] == 0
    behind = between(load.samples, locked_at, released_at)
    assert behind, "no request was made while the lock was held"
    after = between(load.samples, released_at + 0.5, float("inf"))
    assert after and all(s.ok for s in after), "requests after the release still failed"
