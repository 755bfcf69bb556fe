"""The fast path behind PgBouncer in transaction mode: right answers under concurrency.

With named prepared statements, transaction pooling hands a statement name prepared on
one server connection to another one: errors, and with SQLAlchemy even wrong values
(FACTS.md). ``DATABASE_PGBOUNCER=true`` turns the driver's statement cache off, and the
fast path then runs unnamed statements, parsed in the same round trip as they run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import bindparam, func, select

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.compiled import CompiledStatement
from personal_assistant.database.models import User
from personal_assistant.database.queries import list_user_permissions, user_has_permission
from tests.database.seeded import random_checks, seed_database
from tests.fixtures.pgbouncer import PgBouncer
from tests.fixtures.postgres import ServerInfo

#: A third statement with other parameter and result types, to mix with the two checks.
EMAIL = CompiledStatement(select(func.lower(User.email)).where(User.id == bindparam("id")))


@pytest.fixture
async def via_pgbouncer(
    pgbouncer: PgBouncer, pg_server: ServerInfo, database_name: str
) -> AsyncIterator[None]:
    await seed_database(pg_server.url(database_name), users=300)
    config = DatabaseConfig(
        url=pgbouncer.url(database_name), pgbouncer=True, pool_size=10, max_overflow=10
    )
    await db.init_engine(config)
    try:
        yield
    finally:
        await db.dispose_engine()


async def answers(user_id: int, name: str) -> tuple[bool, list[str], str | None]:
    async with db.read_session() as session:
        return (
            await user_has_permission(session, user_id, name),
            await list_user_permissions(session, user_id),
            await EMAIL.scalar(session, {"id": user_id}),
        )


async def expected(user_id: int, name: str) -> tuple[bool, list[str], str | None]:
    async with db.session_scope() as session:
        return (
            await user_has_permission(session, user_id, name),
            await list_user_permissions(session, user_id),
            await session.scalar(EMAIL.statement, {"id": user_id}),
        )


@pytest.mark.usefixtures("via_pgbouncer")
async def test_fast_path_reads_through_pgbouncer_are_right_under_concurrency() -> None:
    checks = random_checks(300, users=300, seed_value=5)
    wanted = [await expected(u, n) for u, n in checks]
    order = list(range(len(checks)))
    for _ in range(3):
        random.Random(len(order)).shuffle(order)
        got = await asyncio.gather(*(answers(*checks[i]) for i in order))
        assert [got[k] for k in sorted(range(len(order)), key=order.__getitem__)] == wanted
    assert db.get_pool_stats().checked_out == 0
