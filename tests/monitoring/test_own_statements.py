"""The monitoring's own statements: tagged on the way out, recognised on the way back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from personal_assistant.database import session as db
from personal_assistant.monitoring import aggregate, db_probe, server_stats, sessions
from personal_assistant.monitoring.own_statements import (
    ASYNCPG_INTROSPECTION_PREFIX,
    TAG,
    is_own,
    tagged,
    tagged_engine,
)
from personal_assistant.monitoring.tracker import QueryTracker
from tests.monitoring.conftest import MonitoredApp


@pytest.mark.parametrize(
    "sql",
    [
        "/* pa:monitoring */ SELECT 1",
        "\n  /* pa:monitoring */\nSELECT 1",
        "/* pa:migrations */ SELECT version FROM t",
        "WITH RECURSIVE typeinfo_tree(\n    oid, ns) AS (SELECT 1, 2) SELECT * FROM typeinfo_tree",
    ],
)
def test_tagged_and_driver_statements_are_own(sql: str) -> None:
    assert is_own(sql)


@pytest.mark.parametrize(
    "sql", ["SELECT 1", "SELECT 1 /* pa:monitoring */", "WITH t AS (SELECT 1) SELECT * FROM t"]
)
def test_application_statements_are_not_own(sql: str) -> None:
    assert not is_own(sql)


@pytest.mark.parametrize("sql", [db_probe.PROBE_SQL, sessions.SESSIONS_SQL])
def test_the_sql_the_monitoring_sends_itself_is_tagged(sql: str) -> None:
    assert sql.startswith(TAG) and is_own(sql)


def test_tagged_puts_the_tag_in_front() -> None:
    assert tagged("\n  SELECT 1") == f"{TAG} SELECT 1"


async def test_the_tagged_engine_prefixes_every_statement_and_only_its_own(
    database_url: str,
) -> None:
    engine = create_async_engine(database_url)
    tracker = QueryTracker()
    tracker.attach(engine)
    try:
        async with tagged_engine(engine).connect() as conn:
            await conn.execute(text("SELECT count(*) FROM pg_class"))
            async with conn.begin_nested():  # SQLAlchemy's own SAVEPOINT, tagged too
                await conn.execute(text(f"{TAG} SELECT count(*) FROM pg_type"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM pg_proc"))
        texts = {s["statement"] for s in tracker.wire()["statements"].values()}
    finally:
        await engine.dispose()
    assert f"{TAG} SELECT count(*) FROM pg_class" in texts
    assert f"{TAG} SELECT count(*) FROM pg_type" in texts  # not tagged twice
    assert f"{TAG} SAVEPOINT sa_savepoint_1" in texts
    assert "SELECT count(*) FROM pg_proc" in texts


async def test_one_tagged_engine_is_kept_per_engine(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        assert tagged_engine(engine) is tagged_engine(engine)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("require_extensions")
async def test_the_servers_top_statements_leave_out_the_monitoring_and_the_driver(
    database_url: str,
) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TYPE mood AS ENUM ('calm', 'busy')"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM pg_class"))
            await conn.execute(text("SELECT 'calm'::mood"))  # asyncpg introspects the enum
        async with tagged_engine(engine).connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.05)"))  # the costliest, but our own
        async with engine.connect() as conn:
            every = (await conn.execute(text("SELECT query FROM pg_stat_statements"))).scalars()
            assert any(q.startswith(ASYNCPG_INTROSPECTION_PREFIX) for q in every)
        figures = await server_stats.server_figures(engine, 5.0, limit=100)
    finally:
        await engine.dispose()
    texts = [s["statement"] for s in figures["pg_stat_statements"]["statements"]]
    assert "SELECT count(*) FROM pg_class" in texts
    assert not [t for t in texts if is_own(t) or "pg_sleep" in t]


def test_the_slowest_statements_leave_out_the_monitorings_own() -> None:
    tracker = QueryTracker()
    tracker.record(f"{TAG} SELECT * FROM pg_stat_database", 900.0)
    tracker.record("WITH RECURSIVE typeinfo_tree(oid) AS (SELECT 1) SELECT * FROM t", 800.0)
    tracker.record("SELECT * FROM users WHERE id = 1", 5.0)
    view = aggregate.performance_view([tracker.wire()])
    assert [s["statement"] for s in view["slowest_statements"]] == [
        "SELECT * FROM users WHERE id = $1"
    ]
    assert len(view["statements"]) == 3  # still counted, only not shown as the slowest


@pytest.mark.usefixtures("require_extensions")
async def test_the_performance_endpoint_shows_the_applications_statements(
    monitored_app: MonitoredApp,
) -> None:
    async with monitored_app() as (_, client):
        async with db.get_engine().connect() as conn:
            await conn.execute(text("SELECT count(*) FROM pg_namespace"))
        await client.get("/health/ready")
        await client.get("/health/database/performance")  # runs the monitoring's reads
        body = (await client.get("/health/database/performance")).json()
    slowest = [s["statement"] for s in body["slowest_statements"]]
    server = [s["statement"] for s in body["server"]["pg_stat_statements"]["statements"]]
    tracked = [s["statement"] for s in body["statements"]]
    assert "SELECT count(*) FROM pg_namespace" in slowest
    assert not [t for t in slowest + server if is_own(t)]
    assert [t for t in tracked if t.startswith(TAG)]  # the baseline and server reads
