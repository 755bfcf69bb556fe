"""The seed gives roles to the users it inserted, whatever ids the sequence handed out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from personal_assistant.database.demo import DEMO_USERS, load_demo_data
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.queries import list_user_permissions
from personal_assistant.database.seed import seed_catalog, seed_user_batch

WITHOUT_ROLE = text(
    "SELECT count(*) FROM users u "
    "WHERE NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id)"
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    await MigrationManager(engine).upgrade()
    async with engine.begin() as conn:
        await seed_catalog(conn)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_roles_go_to_the_inserted_ids_when_the_sequence_has_a_gap(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        # An empty table whose identity is already at 500 (failed or rolled-back
        # inserts leave exactly this): "max(id) + 1 .. max(id) + count" is wrong here.
        await conn.execute(text("ALTER TABLE users ALTER COLUMN id RESTART WITH 500"))
        granted = await seed_user_batch(conn, 1000)
    async with engine.connect() as conn:
        assert await conn.scalar(WITHOUT_ROLE) == 0
        assert await conn.scalar(text("SELECT min(id) FROM users")) == 500
        orphans = await conn.scalar(
            text("SELECT count(*) FROM user_roles WHERE user_id NOT IN (SELECT id FROM users)")
        )
    assert orphans == 0 and granted >= 1000


async def test_a_second_batch_gets_fresh_emails_and_its_own_roles(engine: AsyncEngine) -> None:
    for _ in range(2):
        async with engine.begin() as conn:
            await seed_user_batch(conn, 300)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(DISTINCT email) FROM users")) == 600
        assert await conn.scalar(WITHOUT_ROLE) == 0


async def test_the_demo_data_answers_the_same_way_on_every_run(engine: AsyncEngine) -> None:
    await load_demo_data(engine)
    async with engine.connect() as conn:
        inactive = await conn.scalar(text("SELECT count(*) FROM users WHERE NOT is_active"))
        first_active = await conn.scalar(text("SELECT is_active FROM users WHERE id = 1"))
    assert (inactive, first_active) == (DEMO_USERS // 20, True)
    async with AsyncSession(engine) as session:
        assert "documents:read" in await list_user_permissions(session, 1)
