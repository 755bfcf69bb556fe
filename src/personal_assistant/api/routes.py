"""Every router of the service, mounted on an app in one call."""

from __future__ import annotations

from fastapi import FastAPI

from personal_assistant.api import dashboard, health, migrations, optimization


def include_routers(app: FastAPI) -> None:
    """Mount the health, migrations, optimization and dashboard routes on ``app``."""
    app.include_router(health.router)
    app.include_router(migrations.router)
    app.include_router(optimization.router)
    app.include_router(dashboard.router)
