"""The retry-once rule: a read on a connection that died runs again; a write never does.

Each test kills the backend of a pooled connection with ``pg_terminate_backend`` while
it sits idle in the pool (used a moment ago, so the pre-ping skips it) or while a
statement runs on it, then looks at what the caller sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, event, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.compiled import CompiledStatement
from personal_assistant.database.models import Permission
from personal_assistant.database.queries import user_has_permission
from tests.database.seeded import seed_database

KILL_IDLE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
SLEEPING = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
)
SLEEP = CompiledStatement(select(func.pg_sleep(bindparam("seconds"))))


def dependency(
    get: Callable[[], Awaitable[AsyncSession]],
) -> Callable[[], AsyncIterator[AsyncSession]]:
    """A plain FastAPI dependency as FastAPI runs it (nothing after the request)."""

    async def run() -> AsyncIterator[AsyncSession]:
        yield await get()

    return run


OPENERS: dict[str, Callable[[], AbstractAsyncContextManager[AsyncSession]]] = {
    "read_session": db.read_session,
    "get_read_db_session": asynccontextmanager(dependency(db.get_read_db_session)),
    "get_db_session": asynccontextmanager(db.get_db_session),
    "session_scope": db.session_scope,
}


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[DatabaseConfig]:
    """Seeded; a pool of one connection, so the killed one is the one reused."""
    await seed_database(database_url, users=50)
    config = DatabaseConfig(url=database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    assert config.pool_pre_ping_idle >= 10  # the default: a warm connection is not pinged
    await db.init_engine(config)
    try:
        yield config
    finally:
        await db.dispose_engine()


async def kill_idle_backends(dsn: str) -> int:
    admin = await asyncpg.connect(dsn)
    try:
        return int(await admin.fetchval(KILL_IDLE))
    finally:
        await admin.close()


async def warm_and_kill(dsn: str) -> None:
    async with db.read_session() as session:
        await user_has_permission(session, 1, "documents:read")
    assert await kill_idle_backends(dsn) == 1
    await asyncio.sleep(0.1)  # the FATAL message and the close reach the client


def statements_sent() -> list[str]:
    sent: list[str] = []

    def listen(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        sent.append(sql)

    event.listen(db.get_engine().sync_engine, "before_cursor_execute", listen)
    return sent


async def test_a_compiled_read_on_a_terminated_backend_is_retried_on_a_fresh_connection(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    await warm_and_kill(database_dsn)
    before = db.get_pool_stats()
    async with db.read_session() as session:
        assert await user_has_permission(session, 1, "documents:read") is True
    stats = db.get_pool_stats()
    assert stats.invalidations - before.invalidations == 1
    assert stats.connections_created - before.connections_created == 1
    assert stats.checked_out == 0


@pytest.mark.parametrize("open_session", list(OPENERS))
async def test_a_first_orm_select_on_a_terminated_backend_is_retried(
    one_connection: DatabaseConfig, database_dsn: str, open_session: str
) -> None:
    opener = OPENERS[open_session]
    await warm_and_kill(database_dsn)
    async with opener() as session:
        names = (await session.scalars(select(Permission.name).limit(3))).all()
        assert len(names) == 3
        # The second statement runs on the fresh connection the retry opened.
        assert (await session.scalar(select(func.count()).select_from(Permission)) or 0) > 3
    assert db.get_pool_stats().checked_out == 0


async def test_a_write_on_a_terminated_backend_raises_and_is_not_retried(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    await warm_and_kill(database_dsn)
    sent = statements_sent()
    statement = insert(Permission).values(name="new:permission", description="")
    with pytest.raises(DBAPIError) as raised:
        async with db.session_scope() as session:
            await session.execute(statement)
    assert raised.value.connection_invalidated
    assert len([s for s in sent if s.startswith("INSERT")]) == 1
    async with db.read_session() as session:
        count = await session.scalar(
            select(func.count()).where(Permission.name == "new:permission")
        )
    assert count == 0


async def test_text_statements_are_not_retried(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    # The layer cannot tell what text() does, so even in a read session it runs once.
    await warm_and_kill(database_dsn)
    with pytest.raises(DBAPIError) as raised:
        async with db.read_session() as session:
            await session.execute(text("SELECT 1"))
    assert raised.value.connection_invalidated


async def test_a_read_inside_a_transaction_the_caller_began_is_not_retried(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    await warm_and_kill(database_dsn)
    session = db.new_session()
    try:
        with pytest.raises(DBAPIError) as raised:
            async with session.begin():
                await session.scalar(select(func.count()).select_from(Permission))
        assert raised.value.connection_invalidated
    finally:
        await session.close()


async def test_a_read_that_is_not_the_first_statement_is_not_retried(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    session = db.new_session()
    try:
        await session.scalar(select(func.count()).select_from(Permission))
        assert await kill_idle_backends(database_dsn) == 1  # the session's own connection
        await asyncio.sleep(0.1)
        with pytest.raises(DBAPIError):
            await session.scalar(select(func.count()).select_from(Permission))
    finally:
        await session.close()


async def kill_when_sleeping(dsn: str) -> int:
    admin = await asyncpg.connect(dsn)
    try:
        for _ in range(500):
            pid = await admin.fetchval(SLEEPING)
            if pid is not None:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                return int(pid)
            await asyncio.sleep(0.02)
    finally:
        await admin.close()
    pytest.fail("no statement was sleeping within 10 s")


async def test_a_read_killed_mid_statement_runs_again_once_and_a_second_death_surfaces(
    one_connection: DatabaseConfig, database_dsn: str
) -> None:
    async def sleep() -> None:
        async with db.read_session() as session:
            await SLEEP.scalar(session, {"seconds": 5})

    task = asyncio.create_task(sleep())
    first = await kill_when_sleeping(database_dsn)
    second = await kill_when_sleeping(database_dsn)  # the retry, on a new backend
    assert first != second
    with pytest.raises(DBAPIError) as raised:
        await task
    assert raised.value.connection_invalidated
    assert db.get_pool_stats().checked_out == 0
    async with db.read_session() as session:  # and the pool serves again
        assert await user_has_permission(session, 1, "documents:read") is True
