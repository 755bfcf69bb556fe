"""A slow database: ``statement_timeout``, ``lock_timeout`` and the health timeout bound
every request, and the service is fine again as soon as the slowness ends."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import httpx

from personal_assistant.monitoring import budget
from tests.fixtures.postgres import PostgresCluster
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE
from tests.reliability.load import LoadGenerator

STATEMENT_TIMEOUT_MS = 500
LOCK_TIMEOUT_MS = 300
HEALTH_DB_TIMEOUT_S = 1.0
SETTINGS = {
    "database_pool_size": "3",
    "database_max_overflow": "0",
    "database_pool_timeout": "2",
    "database_statement_timeout": str(STATEMENT_TIMEOUT_MS),
    "database_lock_timeout": str(LOCK_TIMEOUT_MS),
    "health_db_timeout": str(HEALTH_DB_TIMEOUT_S),
    "pa_auto_migrate": "true",
    "pa_demo_data": "true",
}


async def timed_get(
    client: httpx.AsyncClient, path: str, **params: float
) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await client.get(path, params=params)
    EVIDENCE.add(f"body:{path}", response.text)
    return time.monotonic() - started, response


async def test_statement_timeout_bounds_a_sleeping_query(served: Serve, database_url: str) -> None:
    app = served(database_url, **SETTINGS)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
        slow = await asyncio.gather(
            *(timed_get(client, "/load/sleep", seconds=5) for _ in range(3))
        )
        _, fine = await timed_get(client, "/load/sleep", seconds=0)
    print(f"\nMEASURED statement_timeout: {[round(t, 3) for t, _ in slow]}")
    for elapsed, response in slow:
        # A server-side timeout is a 503 to retry, never a hang or a 500, and it says
        # nothing about the SQL or the server.
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert STATEMENT_TIMEOUT_MS / 1000 <= elapsed < STATEMENT_TIMEOUT_MS / 1000 + 0.5
        assert "pg_sleep" not in response.text
    assert fine.status_code == 200
    assert (await asyncio.to_thread(app.pool))["checked_out"] == 0
    assert "Exception in ASGI application" not in app.log()


async def test_a_lock_held_by_another_session_is_bounded_by_lock_timeout(
    served: Serve, database_url: str, database_dsn: str
) -> None:
    app = served(database_url, **SETTINGS)
    blocker = await asyncpg.connect(database_dsn)
    try:
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
            _, before = await timed_get(client, "/load/permission")
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            blocked = await asyncio.gather(
                *(timed_get(client, "/load/permission") for _ in range(3))
            )
            health_s, health = await timed_get(client, "/health/database")
            await transaction.rollback()
            _, after = await timed_get(client, "/load/permission")
    finally:
        await blocker.close()
    print(f"\nMEASURED lock: {[round(t, 3) for t, _ in blocked]} health {health_s:.3f}")
    assert before.status_code == 200
    for elapsed, response in blocked:
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert elapsed < LOCK_TIMEOUT_MS / 1000 + 0.5
    # The health check does not queue behind the lock or the busy pool.
    assert health.status_code == 200 and health_s < HEALTH_DB_TIMEOUT_S
    assert after.status_code == 200
    assert (await asyncio.to_thread(app.pool))["checked_out"] == 0
    assert "Exception in ASGI application" not in app.log()


async def test_a_hung_server_fails_health_at_its_timeout_while_pooled_requests_go_on(
    served: Serve, own_cluster: PostgresCluster, app_database: str
) -> None:
    """SIGSTOP on the postmaster: new connections hang in the handshake, while the
    backends of already pooled connections keep answering."""
    app = served(app_database, **SETTINGS)
    postmaster = int((Path(own_cluster.data_dir) / "postmaster.pid").read_text().split()[0])
    async with LoadGenerator(app.base_url, "/load/permission", 3) as load:
        await asyncio.sleep(0.5)
        os.kill(postmaster, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
                checks = await asyncio.gather(
                    timed_get(client, "/health/database"),
                    timed_get(client, "/health/ready"),
                    timed_get(client, "/health"),
                )
            await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - stopped)))
        finally:
            os.kill(postmaster, signal.SIGCONT)
        await asyncio.sleep(0.5)
    (db_s, database), (ready_s, ready), (_, live) = checks
    print(f"\nMEASURED hung: database {db_s:.3f} s, ready {ready_s:.3f} s")
    assert database.status_code == 503 and ready.status_code == 503
    assert "no answer within" in database.json()["output"]
    # Waiting stops a reserve (10% of the budget) early, to answer within the budget.
    earliest = HEALTH_DB_TIMEOUT_S * (1 - budget.ANSWER_RESERVE) - 0.05
    assert earliest <= db_s < HEALTH_DB_TIMEOUT_S + 0.5
    assert ready_s < HEALTH_DB_TIMEOUT_S + 0.5
    assert live.status_code == 200
    during = [s for s in load.samples if stopped <= s.started < stopped + 1.0]
    assert during and all(s.ok for s in during)
