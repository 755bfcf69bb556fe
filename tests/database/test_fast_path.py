"""Compiled statements on the fast path, against the ORM path, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.exc import ArgumentError, InvalidRequestError

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.compiled import CompiledStatement, compile_plan
from personal_assistant.database.fast_path import FastPathContext
from personal_assistant.database.models import Permission
from personal_assistant.database.queries import list_user_permissions, user_has_permission
from personal_assistant.monitoring.tracker import QueryTracker
from tests.database.seeded import inactive_users_with_grants, random_checks, seed_database

SLEEP = CompiledStatement(select(func.pg_sleep(bindparam("seconds"))))


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[DatabaseConfig]:
    """A seeded database and the engine on it (default settings, a pool of 3 + 2)."""
    await seed_database(database_url)
    config = DatabaseConfig(url=database_url, pool_size=3, max_overflow=2, pool_timeout=2)
    await db.init_engine(config)
    try:
        yield config
    finally:
        await db.dispose_engine()


def fast_path_statements() -> list[str]:
    """Statements the engine runs from now on through the fast path (cursor events)."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        if isinstance(ctx, FastPathContext):
            seen.append(sql)

    event.listen(db.get_engine().sync_engine, "before_cursor_execute", listen)
    return seen


async def read_answers(user_id: int, name: str) -> tuple[bool, list[str]]:
    async with db.read_session() as session:
        return (
            await user_has_permission(session, user_id, name),
            await list_user_permissions(session, user_id),
        )


async def orm_answers(user_id: int, name: str) -> tuple[bool, list[str]]:
    async with db.session_scope() as session:
        return (
            await user_has_permission(session, user_id, name),
            await list_user_permissions(session, user_id),
        )


async def test_the_fast_path_answers_as_the_orm_path_for_random_users_and_permissions(
    seeded: DatabaseConfig,
) -> None:
    fast = fast_path_statements()
    checks = random_checks(300)
    for user_id, name in checks:
        assert await read_answers(user_id, name) == await orm_answers(user_id, name), (
            user_id,
            name,
        )
    assert len(fast) == 2 * len(checks)  # every read took the fast path
    assert any([await read_answers(u, n) for u, n in checks[:50]])  # not all denied


async def test_inactive_users_are_denied_on_the_fast_path(
    seeded: DatabaseConfig, database_url: str
) -> None:
    inactive = await inactive_users_with_grants(database_url)
    assert len(inactive) >= 10
    for user_id in inactive:
        for name in ("documents:read", "calendar:read", "billing:read", "users:read"):
            assert await read_answers(user_id, name) == (False, [])


async def test_concurrent_fast_path_reads_agree_with_the_orm_path(seeded: DatabaseConfig) -> None:
    checks = random_checks(200, seed_value=11)
    expected = [await orm_answers(u, n) for u, n in checks]
    assert await asyncio.gather(*(read_answers(u, n) for u, n in checks)) == expected


@pytest.mark.usefixtures("require_extensions")
async def test_a_check_on_a_warm_pool_is_one_statement_without_ping_or_transaction(
    seeded: DatabaseConfig, database_dsn: str
) -> None:
    async with db.read_session() as session:  # warm the pool and the statement cache
        await user_has_permission(session, 1, "documents:read")
    admin = await asyncpg.connect(database_dsn)
    try:
        await admin.execute("SELECT pg_stat_statements_reset()")
        for user_id in range(1, 21):
            async with db.read_session() as session:
                await user_has_permission(session, user_id, "documents:read")
        rows = await admin.fetch(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await admin.close()
    calls = {r["query"]: r["calls"] for r in rows if "pg_stat_statements" not in r["query"]}
    assert len(calls) == 1, calls
    ((query, count),) = calls.items()
    assert query.startswith("SELECT EXISTS") and count == 20


async def test_pool_statistics_count_each_fast_path_checkout(seeded: DatabaseConfig) -> None:
    before = db.get_pool_stats()
    for user_id in range(1, 41):
        async with db.read_session() as session:
            await user_has_permission(session, user_id, "documents:read")
    await asyncio.gather(*(read_answers(u, "notes:read") for u in range(1, 31)))
    stats = db.get_pool_stats()
    checkouts = 40 + 2 * 30
    assert stats.total_checkouts - before.total_checkouts == checkouts
    assert stats.checkout_wait.count - before.checkout_wait.count == checkouts
    assert stats.connection_use.count - before.connection_use.count == checkouts
    assert stats.checked_out == 0 and stats.pending_requests == 0
    assert stats.connections_created <= seeded.capacity
    assert stats.connections_created - stats.connections_closed == stats.checked_in
    assert stats.reused_checkouts - before.reused_checkouts == checkouts - (
        stats.connections_created - before.connections_created
    )


async def test_a_fast_path_statement_in_flight_is_one_checked_out_connection(
    seeded: DatabaseConfig,
) -> None:
    async def sleep() -> None:
        async with db.read_session() as session:
            await SLEEP.scalar(session, {"seconds": 0.5})

    task = asyncio.create_task(sleep())
    await asyncio.sleep(0.2)
    assert db.get_pool_stats().checked_out == 1
    await task
    assert db.get_pool_stats().checked_out == 0


async def test_cancelling_a_fast_path_query_returns_its_connection(database_url: str) -> None:
    await db.init_engine(DatabaseConfig(url=database_url, pool_size=1, max_overflow=0))
    try:

        async def sleep(seconds: float) -> None:
            async with db.read_session() as session:
                await SLEEP.scalar(session, {"seconds": seconds})

        task = asyncio.create_task(sleep(10))
        await asyncio.sleep(0.3)
        assert db.get_pool_stats().checked_out == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert db.get_pool_stats().checked_out == 0
        # The only connection serves the next statement at once: the server-side sleep
        # was cancelled, and the connection was kept, not replaced.
        started = time.monotonic()
        await sleep(0)
        assert time.monotonic() - started < 2.0
        stats = db.get_pool_stats()
        assert (stats.connections_created, stats.invalidations, stats.checked_out) == (1, 0, 0)
    finally:
        await db.dispose_engine()


async def test_the_query_tracker_times_fast_path_statements(database_url: str) -> None:
    await seed_database(database_url, users=50)
    tracker = QueryTracker(slow_query_ms=1e9)
    await db.init_engine(DatabaseConfig(url=database_url), hooks=(tracker.attach,))
    try:
        for user_id in range(1, 26):
            async with db.read_session() as session:
                await user_has_permission(session, user_id, "documents:read")
    finally:
        await db.dispose_engine()
    statements = tracker.wire()["statements"].values()
    (exists,) = [s for s in statements if s["statement"].startswith("SELECT EXISTS")]
    assert sum(count for _, count in exists["total"]["bins"]) == 25


async def test_a_read_session_keeps_no_connection_between_orm_statements(
    seeded: DatabaseConfig,
) -> None:
    async with db.read_session() as session:
        names = (await session.scalars(select(Permission.name).limit(2))).all()
        assert len(names) == 2
        assert db.get_pool_stats().checked_out == 0 and not session.in_transaction()
        assert await user_has_permission(session, 1, "no:such") is False
        assert (await session.execute(select(Permission.name).limit(1))).scalar_one()
        assert db.get_pool_stats().checked_out == 0


async def test_a_read_session_holding_a_connection_runs_compiled_statements_on_it(
    seeded: DatabaseConfig,
) -> None:
    async with db.read_session() as session:
        await session.connection()  # held until the session closes
        before = db.get_pool_stats().total_checkouts
        assert await user_has_permission(session, 1, "no:such") is False
        assert db.get_pool_stats().total_checkouts == before
        assert db.get_pool_stats().checked_out == 1
    assert db.get_pool_stats().checked_out == 0


async def test_the_dependencys_session_refuses_what_would_keep_a_connection(
    seeded: DatabaseConfig,
) -> None:
    session = await db.get_read_db_session()  # FastAPI closes nothing after the request
    with pytest.raises(InvalidRequestError, match="read_session"):
        await session.connection()
    with pytest.raises(InvalidRequestError, match="read_session"):
        await session.stream(select(Permission.name))
    assert (await session.scalars(select(Permission.name).limit(1))).one()
    assert db.get_pool_stats().checked_out == 0


async def test_compiled_statements_answer_on_any_session(seeded: DatabaseConfig) -> None:
    # A transaction (session_scope) and a plain session take the ordinary path.
    async with db.session_scope() as session:
        in_transaction = await list_user_permissions(session, 1)
    session = db.new_session()
    try:
        plain = await list_user_permissions(session, 1)
    finally:
        await session.close()
    assert in_transaction == plain == (await read_answers(1, "x"))[1] != []


def test_compiled_statements_refuse_expanding_parameters() -> None:
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    statement = select(Permission.name).where(
        Permission.name.in_(bindparam("names", expanding=True))
    )
    with pytest.raises(ArgumentError, match="expanding"):
        compile_plan(statement, asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]


def test_a_plan_orders_parameters_and_fills_in_literals() -> None:
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    statement = select(Permission.name).where(
        Permission.id == 5,
        Permission.name == bindparam("name"),
        Permission.description == bindparam("name"),
    )
    plan = compile_plan(statement, asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    assert plan.sql.count("$1") == 1 and plan.sql.count("$2") == 2
    assert plan.arguments({"name": "docs:read"}) == (5, "docs:read")
    with pytest.raises(ArgumentError, match="'name'"):
        plan.arguments({})
