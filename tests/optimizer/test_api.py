"""``GET /health/database/optimization``: token-protected JSON report."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.api.deps import get_engine, optimizer_settings
from personal_assistant.api.optimization import router
from personal_assistant.api.security import security_settings
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.optimizer.settings import OptimizerSettings


@pytest.fixture
def app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[optimizer_settings] = OptimizerSettings
    app.dependency_overrides[security_settings] = lambda: SecuritySettings(health_token="s3cret")
    return app


async def test_the_report_needs_the_health_token(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        denied = await client.get("/health/database/optimization")
        assert denied.status_code == 401
        ok = await client.get(
            "/health/database/optimization", headers={"Authorization": "Bearer s3cret"}
        )
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) >= {"generated_at", "recommendations", "unavailable"}
