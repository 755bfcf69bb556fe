"""A small demo data set, so a fresh ``make run`` shows live figures at once.

Idempotent and safe to call from several workers at start-up: it runs in one
transaction under a transaction-level advisory lock and does nothing when users
already exist (or when the RBAC schema has not been migrated yet).
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.seed import seed_catalog, seed_user_batch

logger = logging.getLogger(__name__)

DEMO_USERS = 1000
DEMO_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('personal_assistant.demo_data'))")
HAS_SCHEMA = text("SELECT to_regclass('users') IS NOT NULL")
HAS_USERS = text("SELECT EXISTS (SELECT 1 FROM users)")
#: Fresh tables have no statistics until autovacuum gets to them; without them the
#: planner guesses and the optimizer (rightly) reports ``analyze_needed`` at once.
ANALYZE = text("ANALYZE users, roles, permissions, user_roles, role_permissions")


async def load_demo_data(engine: AsyncEngine) -> None:
    """Seed the role catalog and :data:`DEMO_USERS` users unless users already exist."""
    async with engine.begin() as conn:
        if not await conn.scalar(HAS_SCHEMA):
            logger.warning("demo data skipped: the RBAC schema is missing (pa-db migrate up)")
            return
        await conn.execute(DEMO_LOCK)
        if await conn.scalar(HAS_USERS):
            logger.info("demo data skipped: users already exist")
            return
        await seed_catalog(conn)
        await seed_user_batch(conn, DEMO_USERS)
        await conn.execute(ANALYZE)
    logger.info("demo data loaded: %d users", DEMO_USERS)
