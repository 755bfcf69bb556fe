"""Read replicas: a real streaming replica made with pg_basebackup -R."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from tests.fixtures.replica import PrimaryWithReplica


@pytest.fixture
async def replicated(primary_with_replica: PrimaryWithReplica) -> AsyncIterator[PrimaryWithReplica]:
    pair = primary_with_replica
    config = DatabaseConfig(
        url=pair.primary.url("app"),
        replica_urls=pair.replica.url("app"),
        pool_size=4,
        max_overflow=2,
        replica_check_interval=0.2,
        max_replica_lag_ms=5000,
    )
    await db.init_engine(config)
    try:
        yield pair
    finally:
        await db.dispose_engine()


async def _server_port() -> tuple[int, object]:
    async with db.read_session() as session:
        port = (await session.execute(text("SELECT inet_server_port()"))).scalar()
        return int(port), session.info.get("replica")


async def test_reads_go_to_the_replica(replicated: PrimaryWithReplica) -> None:
    for _ in range(5):
        port, replica = await _server_port()
        assert port == replicated.replica.port
        assert replica is not None
    async with db.session_scope() as session:
        port = (await session.execute(text("SELECT inet_server_port()"))).scalar()
    assert port == replicated.primary.port


async def test_writes_on_the_primary_are_readable_on_the_replica(
    replicated: PrimaryWithReplica,
) -> None:
    async with db.session_scope() as session:
        await session.execute(text("CREATE TABLE t (v int)"))
        await session.execute(text("INSERT INTO t VALUES (42)"))
    for _ in range(50):
        async with db.read_session() as session:
            exists = (await session.execute(text("SELECT to_regclass('t') IS NOT NULL"))).scalar()
            if exists:
                value = (await session.execute(text("SELECT v FROM t"))).scalar()
                assert value == 42
                assert session.info["replica"] is not None
                return
        await asyncio.sleep(0.1)
    pytest.fail("the write never reached the replica")


async def test_lag_is_measured(replicated: PrimaryWithReplica) -> None:
    router = db.get_replica_router()
    assert router is not None
    await router.check_all()
    (state,) = router.states()
    assert state["healthy"] is True
    assert state["in_recovery"] is True
    assert state["lag_ms"] is not None and 0 <= state["lag_ms"] < 5000
    assert "***" in state["name"] or "@" not in state["name"].split("//")[1].split("@")[0]


async def test_stopping_the_replica_falls_back_to_the_primary_without_failures(
    replicated: PrimaryWithReplica,
) -> None:
    port, _ = await _server_port()
    assert port == replicated.replica.port
    replicated.replica.stop("immediate")
    results = [await _server_port() for _ in range(20)]
    assert {port for port, _ in results} == {replicated.primary.port}
    router = db.get_replica_router()
    assert router is not None
    assert router.states()[0]["healthy"] is False
    # When the replica returns, the health check brings it back into rotation.
    replicated.replica.start()
    for _ in range(50):
        await asyncio.sleep(0.1)
        port, _ = await _server_port()
        if port == replicated.replica.port:
            return
    pytest.fail("the replica did not come back into rotation")


async def test_a_lagging_replica_is_not_used(primary_with_replica: PrimaryWithReplica) -> None:
    pair = primary_with_replica
    primary_dsn = pair.primary.url("app", driver="postgresql")
    replica_dsn = pair.replica.url("app", driver="postgresql")
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE busy (v int)")
    with psycopg.connect(replica_dsn, autocommit=True) as conn:
        for _ in range(100):  # wait until the replica has replayed the table
            if conn.execute("SELECT to_regclass('busy') IS NOT NULL").fetchone() == (True,):
                break
            await asyncio.sleep(0.05)
        conn.execute("SELECT pg_wal_replay_pause()")
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO busy SELECT generate_series(1, 1000)")
    await asyncio.sleep(0.5)
    config = DatabaseConfig(
        url=pair.primary.url("app"),
        replica_urls=pair.replica.url("app"),
        max_replica_lag_ms=100,
        replica_check_interval=0.2,
    )
    await db.init_engine(config)
    try:
        router = db.get_replica_router()
        assert router is not None
        (state,) = router.states()
        assert state["lag_ms"] > 100
        port, replica = await _server_port()
        assert port == pair.primary.port and replica is None
    finally:
        await db.dispose_engine()


async def test_database_health_reports_each_replica_and_its_lag(
    primary_with_replica: PrimaryWithReplica,
) -> None:
    import httpx

    from apps.fastapi_app.main import ServiceSettings, create_app

    pair = primary_with_replica
    config = DatabaseConfig(
        url=pair.primary.url("app"),
        replica_urls=pair.replica.url("app"),
        replica_check_interval=0.2,
    )
    app = create_app(config, ServiceSettings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = (await client.get("/health/database")).json()
            assert body["status"] == "pass"
            (check,) = body["checks"]["replica-1:replicationLag"]
            assert check["status"] == "pass" and check["observedUnit"] == "ms"
            assert body["replicas"][0]["healthy"] is True
            assert str(pair.replica.port) not in str(body)  # no topology on open endpoints
            pool = (await client.get("/health/database/pool")).json()
            assert pool["replicas"][0]["pool"]["capacity"] == config.capacity

            pair.replica.stop("immediate")
            await asyncio.sleep(0.6)
            response = await client.get("/health/database")
            body = response.json()
            assert response.status_code == 200  # reads fall back: degraded, not down
            assert body["status"] == "warn"
            (check,) = body["checks"]["replica-1:replicationLag"]
            assert "reads go to the primary" in check["output"]
