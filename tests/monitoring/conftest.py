"""Apps with chosen monitoring settings, for the endpoint tests of this package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from apps.fastapi_app.main import ServiceSettings, create_app
from personal_assistant.api.deps import get_pending_check
from personal_assistant.api.security import security_settings
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.config.database import DatabaseConfig
from personal_assistant.monitoring.settings import MonitoringSettings

MonitoredApp = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


async def no_pending(engine: Any) -> list[str]:
    return []


@pytest.fixture
def monitored_app(db_config: DatabaseConfig) -> MonitoredApp:
    """``async with monitored_app(token=..., **settings) as (app, client)``."""

    @asynccontextmanager
    async def make(
        *,
        config: DatabaseConfig | None = None,
        token: str | None = None,
        pending: Any = no_pending,
        **settings: Any,
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = create_app(config or db_config, ServiceSettings(auto_migrate=False, demo_data=False))
        settings.setdefault("health_db_cache_s", 0.0)  # each request probes, unless asked
        app.state.monitoring_settings = MonitoringSettings(**settings)
        app.dependency_overrides[security_settings] = lambda: SecuritySettings(health_token=token)
        app.dependency_overrides[get_pending_check] = lambda: pending
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, client

    return make
