"""Connections killed server-side (``pg_terminate_backend``) while the app runs."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import asyncpg
import httpx
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from tests.fixtures.postgres import PostgresCluster
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE, with_password
from tests.reliability.load import LoadGenerator

APPLICATION = "pa-reliability"
SETTINGS = {
    "database_pool_size": "4",
    "database_max_overflow": "2",
    "database_pool_timeout": "2",
    "database_application_name": APPLICATION,
    "pa_auto_migrate": "true",
    "pa_demo_data": "true",
    # The demo traffic would hold pooled connections at random moments, racing the
    # count of idle connections below: one burst every few minutes is none here.
    "pa_demo_traffic_rate": "0.01",
}
KILL_APP_BACKENDS = """
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE application_name = $1 AND pid <> pg_backend_pid()
"""
SLEEPING_BACKEND = """
    SELECT pid FROM pg_stat_activity
    WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'
"""


async def kill_app_backends(dsn: str) -> int:
    admin = await asyncpg.connect(dsn)
    try:
        return int(await admin.fetchval(KILL_APP_BACKENDS, APPLICATION))
    finally:
        await admin.close()


async def test_killing_every_idle_app_connection_fails_no_request(
    served: Serve, own_cluster: PostgresCluster, app_database: str
) -> None:
    app = served(app_database, **SETTINGS)
    async with LoadGenerator(app.base_url, "/load/permission", 6) as warm:
        await asyncio.sleep(1.0)
    before = await asyncio.to_thread(app.pool)
    killed = await kill_app_backends(own_cluster.url("app", driver="postgresql"))
    assert killed == before["checked_in"] >= 4
    async with LoadGenerator(app.base_url, "/load/permission", 6) as after:
        await asyncio.sleep(1.0)
    assert warm.samples and all(s.ok for s in warm.samples)
    assert len(after.samples) > 50
    assert all(s.ok for s in after.samples), {s.status for s in after.samples}
    pool = await asyncio.to_thread(app.pool)
    assert pool["checked_out"] == 0
    # Pre-ping finds the first dead connection and SQLAlchemy then recycles every
    # connection older than it (pool-wide invalidation): one invalidation and one
    # recovery are counted, and each killed connection is replaced by a new one.
    assert pool["invalidations"] - before["invalidations"] >= 1
    assert pool["disconnects_recovered"] - before["disconnects_recovered"] >= 1
    assert pool["connections_created"] - before["connections_created"] >= killed


async def test_a_connection_killed_mid_request_answers_503_not_500(
    served: Serve, own_cluster: PostgresCluster, app_database: str
) -> None:
    app = served(app_database, **SETTINGS)
    admin = await asyncpg.connect(own_cluster.url("app", driver="postgresql"))
    try:
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
            request = asyncio.create_task(client.get("/load/sleep", params={"seconds": 5}))
            pid = None
            while pid is None:
                await asyncio.sleep(0.05)
                pid = await admin.fetchval(SLEEPING_BACKEND, APPLICATION)
            started = time.monotonic()
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            response = await request
            elapsed = time.monotonic() - started
            follow_up = await client.get("/load/permission")
    finally:
        await admin.close()
    EVIDENCE.add("body:/load/sleep", response.text)
    print(f"\nMEASURED killed mid-request: {response.status_code} after {elapsed:.3f} s")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert elapsed < 1.0
    assert follow_up.status_code == 200
    assert (await asyncio.to_thread(app.pool))["checked_out"] == 0
    assert "Exception in ASGI application" not in app.log()


async def test_a_connection_killed_after_the_query_does_not_fail_the_request(
    database_url: str, database_dsn: str
) -> None:
    """The request's work is done; closing its session must not turn it into a 500."""
    await db.init_engine(DatabaseConfig(url=with_password(database_url), pool_size=2))
    try:
        # As FastAPI runs a dependency with yield: as an async context manager.
        dependency = asynccontextmanager(db.get_db_session)()
        session = await dependency.__aenter__()
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(database_dsn)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await asyncio.sleep(0.1)
        await dependency.__aexit__(None, None, None)  # the request's teardown
        assert db.get_pool_stats().checked_out == 0
        async with db.session_scope() as fresh:
            assert await fresh.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose_engine()
