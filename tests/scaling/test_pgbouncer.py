"""The session layer behind a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from tests.fixtures.pgbouncer import PgBouncer


@pytest.fixture
async def via_pgbouncer(pgbouncer: PgBouncer, database_name: str) -> AsyncIterator[None]:
    config = DatabaseConfig(
        url=pgbouncer.url(database_name),
        pgbouncer=True,
        pool_size=10,
        max_overflow=10,
        statement_timeout=1500,
        lock_timeout=700,
    )
    await db.init_engine(config)
    try:
        yield
    finally:
        await db.dispose_engine()


async def test_concurrent_queries_return_correct_values_with_no_errors(
    via_pgbouncer: None,
) -> None:
    async def worker(n: int) -> list[int]:
        results = []
        for i in range(30):
            async with db.session_scope() as session:
                # Several statement shapes, so prepared statements would collide.
                if i % 3 == 0:
                    value = (await session.execute(text("SELECT :v + 1"), {"v": n})).scalar()
                elif i % 3 == 1:
                    value = (await session.execute(text("SELECT :v * 2"), {"v": n})).scalar()
                    value = value // 2 + 1
                else:
                    value = (
                        await session.execute(text("SELECT CAST(:v AS bigint) + 1"), {"v": n})
                    ).scalar()
                results.append(int(value))
        return results

    outcomes = await asyncio.gather(*(worker(n) for n in range(40)), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    for n, values in enumerate(outcomes):
        assert values == [n + 1] * 30


async def test_timeouts_are_set_per_transaction(via_pgbouncer: None) -> None:
    for _ in range(5):
        async with db.session_scope() as session:
            shown = (await session.execute(text("SHOW statement_timeout"))).scalar()
            lock = (await session.execute(text("SHOW lock_timeout"))).scalar()
        assert (shown, lock) == ("1500ms", "700ms")


async def test_timeouts_do_not_leak_to_other_pgbouncer_clients(
    via_pgbouncer: None, pgbouncer: PgBouncer, database_name: str
) -> None:
    async with db.session_scope() as session:
        await session.execute(text("SELECT 1"))
    other = await asyncpg.connect(
        pgbouncer.url(database_name, driver="postgresql"), statement_cache_size=0
    )
    try:
        for _ in range(10):
            assert await other.fetchval("SHOW statement_timeout") == "0"
    finally:
        await other.close()


async def test_statement_timeout_cancels_a_slow_query(via_pgbouncer: None) -> None:
    with pytest.raises(DBAPIError, match="statement timeout"):
        async with db.session_scope() as session:
            await session.execute(text("SELECT pg_sleep(3)"))
    stats = db.get_pool_stats()
    assert stats.checked_out == 0
