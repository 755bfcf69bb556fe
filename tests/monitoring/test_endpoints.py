"""The health endpoints against a real PostgreSQL: up, down, hung, slow, exhausted."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.errors import PoolExhaustedError
from personal_assistant.monitoring import db_probe
from tests.fixtures.postgres import PostgresCluster
from tests.monitoring.conftest import MonitoredApp

HEALTH_JSON = "application/health+json"
SLOW_PROBE = db_probe.PROBE_SQL + ", pg_sleep(5) AS slept"


async def test_liveness_passes_without_the_database(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert response.json()["status"] == "pass"


async def test_database_health_reports_the_round_trip(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        response = await client.get("/health/database")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "pass"
    assert body["database"]["server_version"]
    assert body["database"]["name"].startswith("t_")
    assert body["database"]["connections"] >= 1
    assert body["database"]["max_connections"] == 200
    rt = body["checks"]["postgresql:responseTime"][0]
    assert rt["observedUnit"] == "ms" and rt["componentType"] == "datastore"


async def test_ready_when_reachable_and_migrated(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"postgresql:reachable", "migrations:pending"}


async def test_pending_migrations_make_the_service_unready(monitored_app: MonitoredApp) -> None:
    async def two_pending(engine: object) -> list[str]:
        return ["0007_add_index", "0008_backfill"]

    async with monitored_app(pending=two_pending) as (_, client):
        response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "fail"
    assert "0007_add_index" in body["checks"]["migrations:pending"][0]["output"]


async def test_a_stopped_database_fails_within_the_timeout(
    monitored_app: MonitoredApp, own_cluster: PostgresCluster
) -> None:
    config = DatabaseConfig(url=own_cluster.url(), pool_size=2, max_overflow=0, connect_retries=0)
    async with monitored_app(config=config, health_db_timeout=1.0) as (_, client):
        own_cluster.stop("immediate")
        started = time.perf_counter()
        ready = await client.get("/health/ready")
        database = await client.get("/health/database")
        live = await client.get("/health")
        elapsed = time.perf_counter() - started
    assert ready.status_code == 503 and database.status_code == 503
    assert database.json()["status"] == "fail"
    assert "cannot connect: Connection refused" in database.json()["output"]
    assert str(own_cluster.port) not in database.text
    assert live.status_code == 200
    assert elapsed < 2.5


async def test_a_hung_server_answers_503_at_the_timeout(
    monitored_app: MonitoredApp, own_cluster: PostgresCluster
) -> None:
    config = DatabaseConfig(url=own_cluster.url(), pool_size=2, max_overflow=0, connect_retries=0)
    pid = int((Path(own_cluster.data_dir) / "postmaster.pid").read_text().split()[0])
    async with monitored_app(config=config, health_db_timeout=1.0) as (_, client):
        os.kill(pid, signal.SIGSTOP)  # accepts TCP, never answers the handshake
        try:
            started = time.perf_counter()
            response = await client.get("/health/database")
            elapsed = time.perf_counter() - started
        finally:
            os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503
    assert "no answer within 1 s" in response.json()["output"]
    assert 0.9 < elapsed < 1.8


async def test_a_slow_round_trip_fails_at_the_timeout(
    monitored_app: MonitoredApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_probe, "PROBE_SQL", SLOW_PROBE)
    async with monitored_app(health_db_timeout=0.5) as (_, client):
        started = time.perf_counter()
        response = await client.get("/health/database")
        elapsed = time.perf_counter() - started
    assert response.status_code == 503 and response.json()["status"] == "fail"
    assert elapsed < 1.2


async def test_an_exhausted_pool_does_not_block_the_database_check(
    monitored_app: MonitoredApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with monitored_app(health_db_timeout=1.0) as (_, client), AsyncExitStack() as held:
        for _ in range(10):  # pool_size 5 + overflow 5: every connection busy
            await held.enter_async_context(db.get_engine().connect())
        assert db.get_pool_stats().utilization == 1.0
        started = time.perf_counter()
        healthy = await client.get("/health/database")
        assert time.perf_counter() - started < 1.0
        monkeypatch.setattr(db_probe, "PROBE_SQL", SLOW_PROBE)
        started = time.perf_counter()
        slow = await client.get("/health/database")
        assert time.perf_counter() - started < 1.6
    assert healthy.status_code == 200
    assert slow.status_code == 503


async def test_pool_figures_under_concurrent_load(monitored_app: MonitoredApp) -> None:
    async def work() -> None:
        async with db.session_scope() as session:
            await session.execute(text("SELECT pg_sleep(0.05)"))

    async with monitored_app() as (_, client):
        load = [asyncio.create_task(work()) for _ in range(40)]
        await asyncio.sleep(0.05)
        during = await client.get("/health/database/pool")
        await asyncio.gather(*load)
        after = await client.get("/health/database/pool")
    busy = during.json()
    assert busy["pool"]["checked_out"] == 10
    assert busy["checks"]["pool:utilization"][0]["status"] == "warn"
    assert during.status_code == 200
    body = after.json()
    assert body["pool"]["total_checkouts"] >= 41
    assert body["pool"]["waited_checkouts"] > 0
    assert body["efficiency"]["wait_ratio"] == body["pool"]["wait_ratio"] > 0
    assert body["efficiency"]["checkout_wait_p95_ms"] > 10
    assert body["aggregation"] == {"scope": "process", "workers": 1}


async def test_checkout_timeouts_fail_the_pool_check(
    monitored_app: MonitoredApp, database_url: str
) -> None:
    config = DatabaseConfig(url=database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    async with monitored_app(config=config) as (_, client):
        async with db.get_engine().connect():
            with pytest.raises(PoolExhaustedError):
                async with db.get_engine().connect():
                    pass
        response = await client.get("/health/database/pool")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["pool:timeouts"][0]["status"] == "fail"
    assert body["pool"]["timeouts_last_minute"] == 1


async def test_readiness_asks_the_migration_manager(monitored_app: MonitoredApp) -> None:
    from personal_assistant.api.deps import get_pending_check

    async with monitored_app(pending=await get_pending_check()) as (_, client):
        before = await client.get("/health/ready")
        from personal_assistant.database.migrations.manager import MigrationManager

        await MigrationManager(db.get_engine()).upgrade()
        after = await client.get("/health/ready")
    assert before.status_code == 503
    assert "0001_rbac_schema.sql" in before.json()["output"]
    assert after.status_code == 200


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real database probes: the real round trip runs, wrapped by a counter."""
    count = [0]
    real_round_trip = db_probe._round_trip

    async def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await real_round_trip(*args, **kwargs)

    monkeypatch.setattr(db_probe, "_round_trip", counted)
    return count


async def test_concurrent_database_checks_share_one_probe(
    monitored_app: MonitoredApp, probes: list[int]
) -> None:
    async with monitored_app(health_db_cache_s=5.0) as (_, client):
        burst = await asyncio.gather(*(client.get("/health/database") for _ in range(20)))
        later = await client.get("/health/ready")
    assert {r.status_code for r in burst} == {200} and later.status_code == 200
    assert probes == [1]


async def test_without_a_cache_each_sequential_check_probes(
    monitored_app: MonitoredApp, probes: list[int]
) -> None:
    async with monitored_app(health_db_cache_s=0.0) as (_, client):
        for _ in range(3):
            assert (await client.get("/health/database")).status_code == 200
    assert probes == [3]
