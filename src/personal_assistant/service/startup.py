"""Start-up work the service does after its engine is up, when its settings ask for it.

``PA_AUTO_MIGRATE`` applies pending migrations; ``PA_DEMO_DATA`` loads the demo data
set (``make run`` on the embedded server asks for both). Migrations connect where
:meth:`DatabaseConfig.for_migrations` says (``DATABASE_MIGRATION_URL`` behind
PgBouncer), on an engine of their own that is disposed when they are done.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.demo import load_demo_data
from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.service.settings import ServiceSettings

logger = logging.getLogger(__name__)


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
