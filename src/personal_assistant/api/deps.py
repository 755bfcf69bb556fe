"""Dependencies the routes share, as ``Annotated`` aliases (``SessionDep`` and friends).

All are ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool, a
thread hop per request for nothing. Tests and deployments override them through
``app.dependency_overrides`` (e.g. a fixed ``SecuritySettings``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from personal_assistant.api.security import (
    HealthTokenDep,
    ReadAccessDep,
    SecuritySettingsDep,
    WriteTokenDep,
)
from personal_assistant.database import session as db
from personal_assistant.monitoring.readiness import PendingCheck, manager_pending
from personal_assistant.monitoring.runtime import MonitoringRuntime
from personal_assistant.optimizer.settings import OptimizerSettings, get_optimizer_settings
from personal_assistant.service.startup import StartupState

__all__ = [
    "EngineDep",
    "HealthTokenDep",
    "OptimizerSettingsDep",
    "PendingDep",
    "ReadAccessDep",
    "ReadSessionDep",
    "RuntimeDep",
    "SecuritySettingsDep",
    "SessionDep",
    "StartupDep",
    "WriteTokenDep",
]


async def get_runtime(request: Request) -> MonitoringRuntime:
    """The app's monitoring runtime (created by the health router's lifespan)."""
    runtime: MonitoringRuntime = request.app.state.monitoring
    return runtime


async def get_startup(request: Request) -> StartupState | None:
    """How far start-up has come (``None``: an app built without the service lifespan)."""
    state: StartupState | None = getattr(request.app.state, "startup", None)
    return state


async def get_pending_check() -> PendingCheck:
    """How readiness learns of pending migrations (override in tests or deployments)."""
    return manager_pending


async def get_engine() -> AsyncEngine:
    """The process-wide engine (``EngineNotInitializedError`` before start-up)."""
    return db.get_engine()


async def optimizer_settings() -> OptimizerSettings:
    return get_optimizer_settings()


RuntimeDep = Annotated[MonitoringRuntime, Depends(get_runtime)]
PendingDep = Annotated[PendingCheck, Depends(get_pending_check)]
StartupDep = Annotated[StartupState | None, Depends(get_startup)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
OptimizerSettingsDep = Annotated[OptimizerSettings, Depends(optimizer_settings)]
#: A read-write session per request; the endpoint commits (``await session.commit()``).
SessionDep = Annotated[AsyncSession, Depends(db.get_db_session)]
#: A read-only session per request, routed to a replica when one is configured: no
#: BEGIN/ROLLBACK, no connection held between statements (so nothing to close: a plain
#: dependency, not one with ``yield``), compiled statements in one round trip.
ReadSessionDep = Annotated[AsyncSession, Depends(db.get_read_db_session)]
