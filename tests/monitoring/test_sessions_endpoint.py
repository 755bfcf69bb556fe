"""Blocked and long-running sessions in ``/health/database`` and ``/metrics``, on real PostgreSQL.

A test connection takes ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` and stays idle in
its transaction (the classic culprit); others queue behind it with a plain ``SELECT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from personal_assistant.config.database import DatabaseConfig
from tests.fixtures.postgres import ServerInfo
from tests.monitoring.conftest import MonitoredApp

TOKEN = "sessions-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Short thresholds, so that a test waits fractions of a second, not the defaults' 5 s.
QUICK = {"health_blocked_warn_s": 0.3, "health_blocked_fail_s": 30.0}


@dataclass
class PileUp:
    blocker: int
    waiters: list[int]


@contextlib.asynccontextmanager
async def lock_held(dsn: str, waiters: int = 2) -> AsyncIterator[PileUp]:
    """A table locked by an idle-in-transaction session, ``waiters`` sessions queued on it."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as setup:
        await setup.execute("CREATE TABLE IF NOT EXISTS lock_target (id int, note text)")
    locker = await psycopg.AsyncConnection.connect(dsn)
    queued = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(waiters)]
    try:
        await locker.execute("LOCK TABLE lock_target IN ACCESS EXCLUSIVE MODE")
        blocker = locker.info.backend_pid
        tasks = [
            asyncio.create_task(c.execute("SELECT * FROM lock_target WHERE note = 'secret'"))
            for c in queued
        ]
        await asyncio.sleep(0.6)  # longer than QUICK's warn threshold
        yield PileUp(blocker, [c.info.backend_pid for c in queued])
        await locker.rollback()
        await asyncio.gather(*tasks)
    finally:
        await locker.close()
        for conn in queued:
            await conn.close()


async def test_a_held_lock_warns_in_the_open_body_with_counts_only(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    async with (
        monitored_app(token=TOKEN, **QUICK) as (_, client),
        lock_held(database_dsn) as pile,
    ):
        response = await client.get("/health/database")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "warn"
    check = body["checks"]["database:blockedSessions"][0]
    assert check["status"] == "warn" and check["observedValue"] == 2
    assert check["observedUnit"] == "sessions"
    assert body["sessions"]["blocked"] == 2 and body["sessions"]["blocking"] == 1
    assert set(body["sessions"]) == {
        "available", "blocked", "blocking", "long_running", "longest_wait_s",
    }  # fmt: skip
    for pid in (pile.blocker, *pile.waiters):
        assert str(pid) not in response.text
    assert "lock_target" not in response.text


async def test_the_detailed_body_names_the_blocker_and_the_blocked_statements(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    async with (
        monitored_app(token=TOKEN, **QUICK) as (_, client),
        lock_held(database_dsn) as pile,
    ):
        body = (await client.get("/health/database", headers=AUTH)).json()
    sessions = body["sessions"]
    (blocker,) = sessions["blocking_sessions"]
    assert blocker["pid"] == pile.blocker and blocker["state"] == "idle in transaction"
    assert blocker["blocking"] == 2 and blocker["transaction_s"] >= 0.5
    assert blocker["statement"] == "LOCK TABLE lock_target IN ACCESS EXCLUSIVE MODE"
    blocked = sessions["blocked_sessions"]
    assert sorted(s["pid"] for s in blocked) == sorted(pile.waiters)
    assert all(s["blocked_by"] == [pile.blocker] for s in blocked)
    assert all(s["waited_s"] >= 0.5 for s in blocked)
    assert {s["statement"] for s in blocked} == {"SELECT * FROM lock_target WHERE note = $1"}
    assert blocked[0]["lock"] == {
        "type": "relation", "mode": "AccessShareLock", "relation": "lock_target",
    }  # fmt: skip
    assert "secret" not in str(body)


async def test_a_wait_past_the_fail_threshold_answers_503(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    settings = {"health_blocked_warn_s": 0.1, "health_blocked_fail_s": 0.4}
    async with monitored_app(**settings) as (_, client), lock_held(database_dsn, waiters=1):
        response = await client.get("/health/database")
    assert response.status_code == 503
    assert response.json()["checks"]["database:blockedSessions"][0]["status"] == "fail"


async def test_the_check_passes_once_the_lock_is_released(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    async with monitored_app(**QUICK) as (_, client):
        async with lock_held(database_dsn):
            assert (await client.get("/health/database")).json()["status"] == "warn"
        body = (await client.get("/health/database")).json()
    assert body["status"] == "pass"
    assert body["checks"]["database:blockedSessions"][0]["observedValue"] == 0
    assert body["sessions"]["blocked_sessions"] == []


async def test_the_metrics_show_the_blocked_sessions_and_the_longest_wait(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    async with monitored_app(**QUICK) as (_, client), lock_held(database_dsn, waiters=3):
        text = (await client.get("/metrics")).text
    values = {
        f.name: f.samples[0].value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("pa_db_") and f.samples
    }
    assert values["pa_db_blocked_sessions"] == 3
    assert values["pa_db_lock_wait_max_seconds"] >= 0.5


async def test_a_long_running_statement_is_listed(
    monitored_app: MonitoredApp, database_dsn: str
) -> None:
    async with (
        monitored_app(health_long_running_s=0.3) as (_, client),
        await psycopg.AsyncConnection.connect(database_dsn, autocommit=True) as slow,
    ):
        pid = slow.info.backend_pid
        task = asyncio.create_task(slow.execute("SELECT pg_sleep(1.5)"))
        await asyncio.sleep(0.6)
        body = (await client.get("/health/database")).json()
        await task
    (session,) = body["sessions"]["long_running_sessions"]
    assert session["pid"] == pid and session["state"] == "active"
    assert session["statement"] == "SELECT pg_sleep($1)"
    assert body["status"] == "pass"  # long-running is listed, not judged


@pytest.fixture
def ordinary_role(pg_server: ServerInfo, database_name: str) -> Iterator[str]:
    """A login role without pg_read_all_stats, allowed to use the test database."""
    role = f"plain_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    url = f"postgresql+asyncpg://{role}:{password}@{pg_server.host}:{pg_server.port}/"
    try:
        yield url + database_name
    finally:
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_an_ordinary_role_sees_the_pile_up_and_is_told_what_it_cannot_see(
    monitored_app: MonitoredApp, database_dsn: str, ordinary_role: str
) -> None:
    config = DatabaseConfig(url=ordinary_role, pool_size=1, max_overflow=0)
    async with (
        monitored_app(config=config, **QUICK) as (_, client),
        lock_held(database_dsn) as pile,
    ):
        response = await client.get("/health/database")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "warn"
    sessions = body["sessions"]
    assert sessions["blocked"] == 2 and sessions["complete"] is False
    assert "pg_read_all_stats" in sessions["note"]
    (blocker,) = sessions["blocking_sessions"]
    assert blocker["pid"] == pile.blocker and blocker["visible"] is False
    assert blocker["state"] is None and blocker["statement"] is None
    assert all(s["waited_s"] >= 0.5 for s in sessions["blocked_sessions"])
