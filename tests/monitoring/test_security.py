"""Token enforcement and secrecy: detailed endpoints need the token, no body leaks."""

from __future__ import annotations

import httpx
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


async def test_without_a_token_configured_local_clients_may_read(
    monitored_app: MonitoredApp,
) -> None:
    async with monitored_app() as (_, client):  # httpx's ASGI client is 127.0.0.1
        for path in DETAILED:
            assert (await client.get(path)).status_code == 200, path


async def test_without_a_token_configured_remote_and_proxied_clients_get_401(
    monitored_app: MonitoredApp,
) -> None:
    async with monitored_app() as (app, local):
        remote = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)),
            base_url="http://test",
        )
        async with remote:
            for path in DETAILED:
                answer = await remote.get(path)
                assert answer.status_code == 401, path
                assert "HEALTH_TOKEN is not set" in answer.json()["detail"]
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            proxied = await local.get("/metrics", headers={header: "203.0.113.7"})
            assert proxied.status_code == 401, header


async def test_writes_need_a_token_even_from_local_clients(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        answer = await client.post("/health/database/performance/baseline")
    assert answer.status_code == 403
    assert "set HEALTH_TOKEN" in answer.json()["detail"]


async def test_the_open_database_check_hides_the_name_and_version(
    monitored_app: MonitoredApp,
) -> None:
    async with monitored_app(token="t0ken-value") as (_, client):
        anonymous = (await client.get("/health/database")).json()
        right = {"Authorization": "Bearer t0ken-value"}
        detailed = (await client.get("/health/database", headers=right)).json()
    assert set(anonymous["database"]) == {"response_time_ms"}
    assert {"name", "server_version"} <= set(detailed["database"])
    assert anonymous["status"] == detailed["status"] == "pass"
    connections = anonymous["checks"]["postgresql:connections"]
    assert all("observedValue" not in c for c in connections)


@pytest.mark.usefixtures("require_extensions")
async def test_no_body_reveals_passwords_or_parameters(
    monitored_app: MonitoredApp, database_url: str
) -> None:
    url = database_url.replace("postgres@", "postgres:pw-SECRET-1@")  # trust auth ignores it
    config = DatabaseConfig(url=url, pool_size=2, max_overflow=0, slow_query_ms=0)
    async with monitored_app(config=config, token="t0ken-value") as (_, client):
        client.headers["Authorization"] = "Bearer t0ken-value"
        async with db.session_scope() as session:
            await session.execute(text("SELECT CAST(:v AS text)"), {"v": "param-SECRET-2"})
            await session.execute(text("SELECT 'literal-SECRET-3'"))
        bodies = [(await client.get(path)).text for path in OPEN + DETAILED]
        bodies.append((await client.post("/health/database/performance/baseline")).text)
    for body in bodies:
        assert "SECRET" not in body
    assert '"statement":"SELECT $1"' in bodies[4]  # shown, but normalized
