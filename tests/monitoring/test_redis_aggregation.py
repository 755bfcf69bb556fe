"""Several workers: snapshots through a real Redis, and the fallback when it is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.database import DatabaseConfig, create_engine_from_config
from personal_assistant.database import session as db
from personal_assistant.database.pool_stats import PoolStatsCollector
from personal_assistant.monitoring.redis_publish import SnapshotStore
from personal_assistant.monitoring.snapshot import local_snapshot
from personal_assistant.monitoring.tracker import QueryTracker
from tests.fixtures.postgres import free_port
from tests.monitoring.conftest import MonitoredApp

QUERY = "SELECT pg_sleep(0.001)"


@dataclass
class OtherWorker:
    """A second worker's engine, pool statistics and tracker, as another process has."""

    engine: AsyncEngine
    collector: PoolStatsCollector
    tracker: QueryTracker

    async def publish(self, redis_url: str, ttl_s: float = 30.0) -> None:
        store = SnapshotStore(redis_url, prefix="pa:monitoring", ttl_s=ttl_s, timeout_s=1.0)
        try:
            await store.publish(
                "worker-b", local_snapshot("worker-b", self.collector, self.tracker)
            )
        finally:
            await store.close()


@pytest.fixture
async def other_worker(db_config: DatabaseConfig) -> AsyncIterator[OtherWorker]:
    config = db_config.model_copy(update={"pool_size": 3, "max_overflow": 0})
    collector = PoolStatsCollector(3, 0)
    engine = create_engine_from_config(config, collector)
    tracker = QueryTracker()
    tracker.attach(engine)
    async with engine.connect() as conn:
        for _ in range(5):
            await conn.execute(text(QUERY))
    try:
        yield OtherWorker(engine, collector, tracker)
    finally:
        await engine.dispose()


async def test_endpoints_aggregate_every_live_worker(
    monitored_app: MonitoredApp, other_worker: OtherWorker, redis_url: str
) -> None:
    await other_worker.publish(redis_url)
    async with monitored_app(redis_url=redis_url) as (_, client):
        async with db.get_engine().connect() as conn:
            for _ in range(7):
                await conn.execute(text(QUERY))
        own_checkouts = db.get_pool_stats().total_checkouts
        pool = (await client.get("/health/database/pool")).json()
        perf = (await client.get("/health/database/performance")).json()
        metrics = (await client.get("/metrics")).text
    assert pool["aggregation"] == {"scope": "service", "workers": 2}
    assert pool["pool"]["capacity"] == 10 + 3
    assert pool["pool"]["total_checkouts"] == own_checkouts + 1
    assert {w["worker"] for w in pool["workers"]} >= {"worker-b"}
    (row,) = [s for s in perf["statements"] if s["statement"] == "SELECT pg_sleep($1)"]
    assert row["calls"] == 12
    assert "pa_monitoring_workers 2.0" in metrics


async def test_a_worker_that_stops_publishing_drops_out(
    monitored_app: MonitoredApp, other_worker: OtherWorker, redis_url: str
) -> None:
    await other_worker.publish(redis_url, ttl_s=0.2)
    async with monitored_app(redis_url=redis_url) as (_, client):
        before = (await client.get("/health/database/pool")).json()["aggregation"]
        await asyncio.sleep(0.3)
        after = (await client.get("/health/database/pool")).json()["aggregation"]
    assert before["workers"] == 2 and after["workers"] == 1


async def test_redis_down_falls_back_to_this_process_and_says_so(
    monitored_app: MonitoredApp,
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    async with monitored_app(redis_url=closed, redis_timeout=0.2) as (_, client):
        response = await client.get("/health/database/pool")
    body = response.json()
    assert response.status_code == 200
    assert body["aggregation"]["scope"] == "process"
    assert "redis unavailable" in body["aggregation"]["warning"]
    assert str(closed) not in response.text
