"""The server going away or a statement being cancelled mid-run: one clear error.

The analysis is held on a lock (another session holds ACCESS EXCLUSIVE on a table a
recorded statement reads, so planning it waits), then the server is stopped
(``pg_ctl stop -m fast``) or the statement times out. The CLI prints one message and exits 1,
with no traceback; the endpoint answers 503 with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.api.deps import get_engine, optimizer_settings
from personal_assistant.api.optimization import router
from personal_assistant.api.security import security_settings
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.errors import OptimizerDatabaseError
from tests.fixtures.postgres import PostgresCluster
from tests.optimizer.conftest import PA_DB, cli_env


@pytest.fixture
async def locked(own_cluster: PostgresCluster) -> AsyncIterator[PostgresCluster]:
    """A table locked ACCESS EXCLUSIVE by another session for the whole test."""
    holder = await asyncpg.connect(own_cluster.url(driver="postgresql"))
    await holder.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await holder.execute("CREATE TABLE t (id int PRIMARY KEY)")
    for i in range(3):
        await holder.fetch("SELECT * FROM t WHERE id = $1", i)  # a top statement on t
    await holder.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    try:
        yield own_cluster
    finally:
        if not holder.is_closed():
            await holder.close(timeout=2)


async def wait_for_lock_wait(cluster: PostgresCluster, deadline_s: float = 30) -> None:
    """Until some backend waits on a lock (the optimizer planning a statement on t)."""
    conn = await asyncpg.connect(cluster.url(driver="postgresql"))
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the optimizer never waited on the lock")
    finally:
        await conn.close()


async def pa_db(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(PA_DB),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/tmp",
        env=cli_env(**(env or {})),
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_says_what_it_was_doing_when_the_server_stops(
    locked: PostgresCluster,
) -> None:
    proc = await pa_db("optimize", "--database-url", locked.url())
    await wait_for_lock_wait(locked)
    await asyncio.to_thread(locked.stop, "fast")
    code, out, err = await finish(proc)
    assert code == 1, (out, err)
    assert "Traceback" not in out + err
    message = " ".join(err.split())
    assert "the optimizer stopped while planning the top statements" in message
    assert "check that the server is running and reachable" in message
    assert "administrator command" in message  # the server's own reason
    assert err.count("error:") == 1, err


async def test_a_cancelled_statement_is_one_clear_error_with_the_timeout_to_raise(
    locked: PostgresCluster,
) -> None:
    env = {"OPTIMIZER_STATEMENT_TIMEOUT_MS": "300"}
    code, out, err = await finish(
        await pa_db("optimize", "--json", "--database-url", locked.url(), env=env)
    )
    assert code == 1
    assert out == "" and "Traceback" not in err
    message = " ".join(err.split())
    assert "a statement was cancelled (SQLSTATE 57014)" in message
    assert "OPTIMIZER_STATEMENT_TIMEOUT_MS" in message


async def test_the_error_is_an_optimizer_error_from_the_database_error(
    locked: PostgresCluster,
) -> None:
    engine = create_async_engine(locked.url(), poolclass=NullPool)
    try:
        with pytest.raises(OptimizerDatabaseError) as caught:
            await DatabaseOptimizer(engine, OptimizerSettings(statement_timeout_ms=200)).analyze()
    finally:
        await engine.dispose()
    assert caught.value.retryable and caught.value.sqlstate == "57014"
    assert caught.value.step.startswith("planning the top statements")


async def test_the_endpoint_answers_503_with_the_reason(locked: PostgresCluster) -> None:
    engine = create_async_engine(locked.url(), poolclass=NullPool)
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[optimizer_settings] = lambda: OptimizerSettings(
        statement_timeout_ms=200
    )
    app.dependency_overrides[security_settings] = lambda: SecuritySettings(health_token="t")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get(
                "/health/database/optimization", headers={"Authorization": "Bearer t"}
            )
    finally:
        await engine.dispose()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert "cancelled" in answer.json()["detail"]
