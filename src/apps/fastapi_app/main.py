"""The FastAPI application: ``create_app()`` and the module-level ``app``.

Nothing touches the database at import time. The lifespan reads the settings, starts
the embedded PostgreSQL when ``DATABASE_URL`` is unset, opens the engine (with
connection retries), optionally applies migrations and demo data, and disposes all of
it on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from personal_assistant.config.database import (
    DatabaseConfig,
    load_database_config,
    load_settings,
)
from personal_assistant.config.monitoring import router as health_router
from personal_assistant.dashboard.api import router as dashboard_router
from personal_assistant.database import session as db
from personal_assistant.database.embedded import EmbeddedPostgres, start_embedded
from personal_assistant.database.errors import (
    DatabaseUnavailableError,
    PoolExhaustedError,
)
from personal_assistant.database.performance import attach_tracker
from personal_assistant.optimizer.api import router as optimization_router

logger = logging.getLogger(__name__)

SessionDep = Annotated[AsyncSession, Depends(db.get_db_session)]
#: query_canceled (statement_timeout) and lock_not_available (lock_timeout).
TRANSIENT_SQLSTATES = ("57014", "55P03")


class AppSettings(BaseSettings):
    """Service-level switches (``PA_*``); database settings live in ``DatabaseConfig``."""

    model_config = SettingsConfigDict(env_prefix="PA_", env_file=".env", extra="ignore")

    auto_migrate: bool = Field(default=False, description="apply pending migrations at start")
    demo_data: bool = Field(default=False, description="load a small demo data set at start")
    data_dir: str = Field(default=".pa-data", description="where the embedded server lives")


async def _startup_tasks(settings: AppSettings) -> None:
    """Migrations and demo data, when asked for (``make run`` asks for both)."""
    if settings.auto_migrate:
        from personal_assistant.database.migrations.manager import MigrationManager

        config = db.get_config()
        if config.migration_url is not None:
            # Behind PgBouncer: a direct session (advisory lock, no-transaction DDL).
            url = config.migration_sqlalchemy_url.render_as_string(hide_password=False)
            manager = MigrationManager(url)  # owns (and disposes) its own engine
        else:
            manager = MigrationManager(db.get_engine())
        async with manager:
            applied = await manager.upgrade()
        logger.info("applied %d migration(s) at start-up", len(applied))
    if settings.demo_data:
        from personal_assistant.database.demo import load_demo_data

        await load_demo_data(db.get_engine())


def create_app(
    config: DatabaseConfig | None = None, settings: AppSettings | None = None
) -> FastAPI:
    """Build the app; ``config``/``settings`` default to the environment at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from pathlib import Path

        app_settings = settings or load_settings(AppSettings)
        db_config = config or load_database_config()
        embedded: EmbeddedPostgres | None = None
        if db_config.url is None:
            embedded = start_embedded(Path(app_settings.data_dir))
            db_config = db_config.with_url(embedded.url)
        try:
            await db.init_engine(db_config, hooks=_engine_hooks())
            await _startup_tasks(app_settings)
            app.state.db_config = db_config
            app.state.embedded = embedded is not None
            yield
        finally:
            await db.dispose_engine()
            if embedded is not None:
                embedded.stop()

    app = FastAPI(
        title="Personal Assistant",
        version="0.1.0",
        lifespan=lifespan,
    )
    _install_error_handlers(app)
    _include_routers(app)
    return app


def _engine_hooks() -> tuple[db.EngineHook, ...]:
    """Instrumentation attached to every engine the app creates."""
    return (attach_tracker,)


def _include_routers(app: FastAPI) -> None:
    app.include_router(health_router)
    app.include_router(optimization_router)
    app.include_router(dashboard_router)


def _install_error_handlers(app: FastAPI) -> None:
    """Database outages become 503 with ``Retry-After``, never a 500 or a hang."""

    async def pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "database connection pool exhausted; retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "database unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    async def transient(request: Request, exc: Exception) -> JSONResponse:
        # A connection lost under a statement (restart, terminated backend) or a
        # statement/lock timeout is transient; any other driver error is a bug:
        # re-raised, so it is logged and answered with 500.
        assert isinstance(exc, DBAPIError)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if not (exc.connection_invalidated or sqlstate in TRANSIENT_SQLSTATES):
            raise exc
        return JSONResponse(
            {"detail": "database unavailable or too slow; retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(PoolExhaustedError, pool_exhausted)
    app.add_exception_handler(DatabaseUnavailableError, unavailable)
    app.add_exception_handler(DBAPIError, transient)


app = create_app()
