"""Replica routing on the fast path: reads go to the replica, and survive it going away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import func, select

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.compiled import CompiledStatement
from personal_assistant.database.queries import user_has_permission
from tests.database.seeded import seed_database
from tests.fixtures.replica import PrimaryWithReplica

SERVER_PORT = CompiledStatement(select(func.inet_server_port()))


async def wait_for_replay(pair: PrimaryWithReplica) -> None:
    with psycopg.connect(pair.replica.url("app", driver="postgresql"), autocommit=True) as conn:
        for _ in range(200):
            found = conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone()
            if found == (True,) and conn.execute("SELECT count(*) FROM users").fetchone() == (100,):
                return
            await asyncio.sleep(0.05)
    pytest.fail("the replica never replayed the seed")


@pytest.fixture
async def replicated(primary_with_replica: PrimaryWithReplica) -> AsyncIterator[PrimaryWithReplica]:
    pair = primary_with_replica
    await seed_database(pair.primary.url("app"), users=100)
    await wait_for_replay(pair)
    config = DatabaseConfig(
        url=pair.primary.url("app"),
        replica_urls=pair.replica.url("app"),
        pool_size=3,
        max_overflow=2,
        replica_check_interval=0.2,
        max_replica_lag_ms=5000,
    )
    await db.init_engine(config)
    try:
        yield pair
    finally:
        await db.dispose_engine()


async def read() -> tuple[int, str | None, bool]:
    async with db.read_session() as session:
        port = int(await SERVER_PORT.scalar(session, {}))
        allowed = await user_has_permission(session, 1, "documents:read")
        return port, session.info["replica"], allowed


async def test_fast_path_reads_go_to_the_replica(replicated: PrimaryWithReplica) -> None:
    for _ in range(5):
        port, replica, allowed = await read()
        assert port == replicated.replica.port and replica is not None and allowed


async def test_a_replica_going_away_costs_no_failed_fast_path_read(
    replicated: PrimaryWithReplica,
) -> None:
    assert (await read())[0] == replicated.replica.port
    replicated.replica.stop("immediate")
    results = [await read() for _ in range(20)]
    assert {(port, replica) for port, replica, _ in results} == {(replicated.primary.port, None)}
    assert all(allowed for _, _, allowed in results)
    router = db.get_replica_router()
    assert router is not None and router.states()[0]["healthy"] is False
