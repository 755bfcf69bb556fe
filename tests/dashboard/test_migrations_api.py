"""``/health/database/migrations`` and ``/dashboard/config`` in-process, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from apps.fastapi_app.main import ServiceSettings, create_app
from personal_assistant.api.security import security_settings
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.monitoring.settings import MonitoringSettings
from tests.fixtures.postgres import PostgresCluster

TOKEN = "migrations-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_with_token(db_config: DatabaseConfig) -> AppClient:
    """``async with app_with_token(config=...) as client``: HEALTH_TOKEN set, 1 s timeout."""

    @asynccontextmanager
    async def make(config: DatabaseConfig | None = None) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(config or db_config, ServiceSettings(auto_migrate=False, demo_data=False))
        app.state.monitoring_settings = MonitoringSettings(health_db_timeout=1.0)
        app.dependency_overrides[security_settings] = lambda: SecuritySettings(health_token=TOKEN)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client

    return make


async def test_migrations_need_the_token(app_with_token: AppClient) -> None:
    async with app_with_token() as client:
        assert (await client.get("/health/database/migrations")).status_code == 401
        assert (await client.get("/health/database/migrations", headers=AUTH)).status_code == 200


async def test_pending_migrations_warn_and_are_listed(app_with_token: AppClient) -> None:
    async with app_with_token() as client:
        response = await client.get("/health/database/migrations", headers=AUTH)
    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert body["status"] == "warn"
    assert body["current_version"] == 0 and body["last_applied_at"] is None
    assert [p["version"] for p in body["pending"]] == [1, 2]
    assert "0001_rbac_schema.sql" in body["output"]


async def test_applied_migrations_show_version_and_last_applied_time(
    app_with_token: AppClient, database_url: str
) -> None:
    async with MigrationManager(database_url) as manager:
        await manager.upgrade()
    async with app_with_token() as client:
        body = (await client.get("/health/database/migrations", headers=AUTH)).json()
    assert body["status"] == "pass" and body["pending"] == []
    assert body["current_version"] == 2 and body["applied_count"] == 2
    assert body["last_applied"]["file_name"] == "0002_index_users_created_at.sql"
    assert body["last_applied_at"] == body["last_applied"]["applied_at"] is not None


async def test_a_stopped_database_answers_503_with_a_reason(
    app_with_token: AppClient, own_cluster: PostgresCluster
) -> None:
    config = DatabaseConfig(url=own_cluster.url(), pool_size=2, max_overflow=0, connect_retries=0)
    async with app_with_token(config=config) as client:
        own_cluster.stop("immediate")
        response = await client.get("/health/database/migrations", headers=AUTH)
    body = response.json()
    assert response.status_code == 503 and body["status"] == "fail"
    # A fresh connection is refused; a pooled one finds its connection lost.
    assert "cannot connect: Connection refused" in body["output"] or (
        "connection failed (InterfaceError)" in body["output"]
    )
    assert str(own_cluster.port) not in response.text


async def test_the_page_config_says_whether_a_token_is_needed(app_with_token: AppClient) -> None:
    async with app_with_token() as client:
        config = (await client.get("/dashboard/config")).json()
        page = await client.get("/dashboard")
        script = await client.get("/dashboard/static/dashboard.js")
        other = await client.get("/dashboard/static/api.py")
    assert config == {"token_required": True}
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert script.status_code == 200 and "textContent" in script.text
    assert other.status_code == 404
