"""Start-up work the service does after its engine is up, when its settings ask for it.

``PA_AUTO_MIGRATE`` applies pending migrations; ``PA_DEMO_DATA`` loads the demo data
set (``make run`` on the embedded server asks for both). Migrations connect where
:meth:`DatabaseConfig.for_migrations` says (``DATABASE_MIGRATION_URL`` behind
PgBouncer), on an engine of their own that is disposed when they are done.

**Up before its database.** A service that exits when its database is unreachable
at start-up ends in Kubernetes' CrashLoopBackOff, and its ``startupProbe`` never gets
a say. :func:`start_service` tries once (with the engine's own connect retries); if
the server cannot be reached, the process starts anyway, liveness answers, readiness
answers 503 with the reason (:class:`StartupState`), and a background task keeps
trying with the configured backoff (``DATABASE_CONNECT_RETRY_INITIAL_DELAY`` growing
to ``DATABASE_CONNECT_RETRY_MAX_DELAY``), then runs the start-up work and turns ready.
A failing migration on a reachable server still stops start-up: waiting does not fix
it, and the operator must see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity import wait_exponential_jitter as exponential_jitter

from personal_assistant.database.demo import load_demo_data
from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.errors import DatabaseError, DatabaseUnavailableError
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.errors import PersonalAssistantError
from personal_assistant.monitoring.db_probe import describe
from personal_assistant.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

SELECT_ONE = text("SELECT 1")
#: What "the database is not there (yet)" looks like from here.
UNREACHABLE = (DatabaseError, DBAPIError, OSError, TimeoutError)


@dataclass
class StartupState:
    """Whether start-up has reached the database and done its work; readiness reads it."""

    ready: bool = False
    #: Why the service is not ready yet (secret-free: no URL, host or password).
    reason: str = "starting"
    attempts: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def stop(self) -> None:
        """Cancel the background attempts (app shutdown)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def unreachable_reason(exc: BaseException) -> str:
    """Why the database could not be reached, without naming the server."""
    if isinstance(exc, DatabaseUnavailableError) and exc.__cause__ is not None:
        exc = exc.__cause__  # its own message names the server
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return describe(exc, 0)


async def apply_migrations(config: DatabaseConfig) -> int:
    """Apply every pending migration; returns how many were applied."""
    engine = create_engine_from_config(config.for_migrations())
    try:
        async with MigrationManager(engine) as manager:
            applied = await manager.upgrade()
    finally:
        await engine.dispose()
    logger.info("applied %d migration(s) at start-up", len(applied))
    return len(applied)


async def run_startup_tasks(
    settings: ServiceSettings, config: DatabaseConfig, engine: AsyncEngine
) -> None:
    """Migrations, then demo data, each only when switched on."""
    if settings.auto_migrate:
        await apply_migrations(config)
    if settings.demo_data:
        await load_demo_data(engine)


async def reach_database(engine: AsyncEngine) -> None:
    """One round trip through the pool (with the engine's own connect retries)."""
    async with engine.connect() as conn:
        await conn.execute(SELECT_ONE)


async def start_service(
    settings: ServiceSettings, config: DatabaseConfig, engine: AsyncEngine
) -> StartupState:
    """Reach the database and do the start-up work, in the background if it is not there."""
    state = StartupState(reason="connecting to the database")
    try:
        await reach_database(engine)
    except UNREACHABLE as exc:
        state.reason = f"database not reached since start-up: {unreachable_reason(exc)}"
        state.attempts = 1
        logger.warning("%s; serving anyway, retrying in the background", state.reason)
        state.task = asyncio.create_task(
            _keep_trying(state, settings, config, engine), name="pa-startup"
        )
        return state
    await run_startup_tasks(settings, config, engine)
    state.ready, state.reason = True, "ready"
    return state


async def _keep_trying(
    state: StartupState, settings: ServiceSettings, config: DatabaseConfig, engine: AsyncEngine
) -> None:
    def note(retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome else None
        state.attempts += 1
        if exc is not None:
            state.reason = f"database not reached since start-up: {unreachable_reason(exc)}"
        logger.warning("%s (attempt %d)", state.reason, state.attempts)

    retrying = AsyncRetrying(
        wait=exponential_jitter(
            initial=config.connect_retry_initial_delay, max=config.connect_retry_max_delay
        ),
        retry=retry_if_exception_type(UNREACHABLE),
        before_sleep=note,
        reraise=True,
    )
    await retrying(reach_database, engine)
    logger.info("database reached after %d attempt(s); running start-up work", state.attempts)
    state.reason = "running start-up work (migrations, demo data)"
    try:
        await run_startup_tasks(settings, config, engine)
    except (PersonalAssistantError, *UNREACHABLE) as exc:  # readiness reports it
        state.reason = f"start-up work failed: {exc}"
        logger.exception("start-up work failed after the database was reached")
        return
    state.ready, state.reason = True, "ready"
