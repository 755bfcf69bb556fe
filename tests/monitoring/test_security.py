"""Token enforcement and secrecy: detailed endpoints need the token, no body leaks."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from tests.monitoring.conftest import MonitoredApp

DETAILED = ["/health/database/pool", "/health/database/performance", "/metrics"]
OPEN = ["/health", "/health/ready", "/health/database"]


async def test_detailed_endpoints_require_the_token(monitored_app: MonitoredApp) -> None:
    async with monitored_app(token="t0ken-value") as (_, client):
        for path in DETAILED:
            assert (await client.get(path)).status_code == 401, path
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get(path, headers=wrong)).status_code == 401, path
            right = {"Authorization": "Bearer t0ken-value"}
            assert (await client.get(path, headers=right)).status_code == 200, path
        baseline = await client.post("/health/database/performance/baseline")
        assert baseline.status_code == 401


async def test_probe_endpoints_stay_open(monitored_app: MonitoredApp) -> None:
    async with monitored_app(token="t0ken-value") as (_, client):
        for path in OPEN:
            assert (await client.get(path)).status_code == 200, path


async def test_without_a_token_configured_everything_is_open(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        for path in DETAILED:
            assert (await client.get(path)).status_code == 200, path


@pytest.mark.usefixtures("require_extensions")
async def test_no_body_reveals_passwords_or_parameters(
    monitored_app: MonitoredApp, database_url: str
) -> None:
    url = database_url.replace("postgres@", "postgres:pw-SECRET-1@")  # trust auth ignores it
    config = DatabaseConfig(url=url, pool_size=2, max_overflow=0, slow_query_ms=0)
    async with monitored_app(config=config) as (_, client):
        async with db.session_scope() as session:
            await session.execute(text("SELECT CAST(:v AS text)"), {"v": "param-SECRET-2"})
            await session.execute(text("SELECT 'literal-SECRET-3'"))
        bodies = [(await client.get(path)).text for path in OPEN + DETAILED]
        bodies.append((await client.post("/health/database/performance/baseline")).text)
    for body in bodies:
        assert "SECRET" not in body
    assert '"statement":"SELECT $1"' in bodies[4]  # shown, but normalized
