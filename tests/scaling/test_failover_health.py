"""The health endpoints through a failover: readiness reports the gap, details name the primary.

The app runs in-process against ``DATABASE_URL`` naming a real primary and its
``pg_basebackup -R`` standby. Requests from loopback may read details (no
``HEALTH_TOKEN``); a request from elsewhere sees statuses only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from apps.fastapi_app.main import ServiceSettings, create_app
from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseUnavailableError
from tests.fixtures.replica import PrimaryWithReplica, promote
from tests.scaling.failover_scenario import failover_config


@pytest.fixture
async def app(primary_with_replica: PrimaryWithReplica) -> AsyncIterator[object]:
    # No connect retries: a write during the gap fails at once instead of waiting.
    config = failover_config(primary_with_replica, connect_retries=0)
    application = create_app(config, ServiceSettings(auto_migrate=True, demo_data=False))
    async with application.router.lifespan_context(application):
        yield application


def _client(app: object, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _ready_within(client: httpx.AsyncClient, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get("/health/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_readiness_reports_the_gap_and_details_name_the_new_primary(
    app: object, primary_with_replica: PrimaryWithReplica
) -> None:
    pair = primary_with_replica
    async with _client(app) as local, _client(app, "192.0.2.10") as remote:
        body = (await local.get("/health/database")).json()
        assert body["primary"]["host"] == f"127.0.0.1:{pair.primary.port}"
        assert "primary" not in (await remote.get("/health/database")).json()

        pair.primary.stop("fast")
        # The request fails: on its pooled connection (unless pinged at checkout), or
        # on connecting, as no host takes writes yet.
        with pytest.raises((DBAPIError, DatabaseUnavailableError)):
            async with db.session_scope() as session:
                await session.execute(text("SELECT 1"))
        ready = await local.get("/health/ready")
        assert ready.status_code == 503
        (check,) = ready.json()["checks"]["postgresql:primary"]
        assert "primary lost" in check["output"]
        assert str(pair.primary.port) not in ready.text and "127.0.0.1" not in ready.text

        promote(pair.replica)
        ready = await _ready_within(local, 5.0)
        assert ready.status_code == 200, ready.text
        primary = (await local.get("/health/database")).json()["primary"]
        assert primary["host"] == f"127.0.0.1:{pair.replica.port}"
        assert (primary["failovers"], primary["lost_seconds"]) == (1, None)
        assert "postgres@" not in str(primary) and "password" not in str(primary)
