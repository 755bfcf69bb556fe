"""The FastAPI application: ``create_app()`` and the module-level ``app``.

Nothing touches the database at import time. The lifespan reads the settings, starts
the embedded PostgreSQL when ``DATABASE_URL`` is unset, opens the engine (with
connection retries and the query tracker attached), optionally applies migrations
and demo data, and disposes all of it on shutdown. When the database cannot be
reached at start-up the app serves anyway (readiness 503 with the reason) and keeps
trying in the background: see :mod:`personal_assistant.service.startup`. Routes,
dependencies and error handlers live in :mod:`personal_assistant.api`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from personal_assistant.api.deps import ReadSessionDep, SessionDep
from personal_assistant.api.errors import install_error_handlers
from personal_assistant.api.routes import include_routers
from personal_assistant.database import session as db
from personal_assistant.database.embedded import database_server
from personal_assistant.database.settings import DatabaseConfig, load_database_config
from personal_assistant.database.settings_loader import load_settings
from personal_assistant.monitoring.settings import MonitoringSettings, get_monitoring_settings
from personal_assistant.monitoring.tracker import QueryTracker
from personal_assistant.service.settings import ServiceSettings
from personal_assistant.service.startup import StartupState, start_service

#: The name this module used for :class:`ServiceSettings` before the settings moved.
AppSettings = ServiceSettings

__all__ = ["AppSettings", "ReadSessionDep", "ServiceSettings", "SessionDep", "app", "create_app"]


def create_app(
    config: DatabaseConfig | None = None, settings: ServiceSettings | None = None
) -> FastAPI:
    """Build the app; ``config``/``settings`` default to the environment at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Read afresh at each start (not the cached getters): a restarted app in the
        # same process sees the environment as it is now.
        service = settings or load_settings(ServiceSettings)
        monitoring: MonitoringSettings = (
            getattr(app.state, "monitoring_settings", None) or get_monitoring_settings()
        )
        app.state.service_settings = service
        with database_server(config or load_database_config(), Path(service.data_dir)) as cfg:
            tracker = QueryTracker.from_settings(monitoring, slow_query_ms=cfg.slow_query_ms)
            app.state.tracker = tracker
            startup: StartupState | None = None
            try:
                engine = await db.init_engine(cfg, verify=False, hooks=(tracker.attach,))
                app.state.db_config = cfg
                app.state.startup = startup = await start_service(service, cfg, engine)
                yield
            finally:
                if startup is not None:
                    await startup.stop()
                await db.dispose_engine()

    app = FastAPI(title="Personal Assistant", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    include_routers(app)
    return app


app = create_app()
