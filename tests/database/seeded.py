"""A migrated, seeded RBAC database for the fast-path tests, and the answers to expect."""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.seed import permission_names, seed

USERS = 1000


async def seed_database(url: str, users: int = USERS) -> None:
    """Migrate ``url`` to the newest version and seed ``users`` users."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await MigrationManager(engine).upgrade()
        await seed(engine, users)
    finally:
        await engine.dispose()


async def inactive_users_with_grants(url: str) -> list[int]:
    """Inactive users that hold at least one permission through a role."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT DISTINCT u.id FROM users u "
                    "JOIN user_roles ur ON ur.user_id = u.id "
                    "JOIN role_permissions rp ON rp.role_id = ur.role_id "
                    "WHERE NOT u.is_active ORDER BY u.id"
                )
            )
            return [int(r[0]) for r in rows]
    finally:
        await engine.dispose()


def random_checks(n: int, users: int = USERS, seed_value: int = 7) -> list[tuple[int, str]]:
    """``n`` (user id, permission) pairs, unknown users and permissions included."""
    rng = random.Random(seed_value)
    names = [*permission_names(), "no:such", "documents:READ"]
    return [(rng.randint(1, users + 20), rng.choice(names)) for _ in range(n)]
