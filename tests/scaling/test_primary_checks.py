"""Writes go to the primary only: migrations refuse a standby, a read-only host is left.

Real servers: a primary with a ``pg_basebackup -R`` standby, and two independent
clusters for a primary that turns read-only (``default_transaction_read_only``, as some
managed services do before a switchover) while another host accepts writes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.failover import ServerInRecoveryError, tracker_for
from personal_assistant.database.migrations import MigrationManager
from tests.fixtures.postgres import PostgresCluster, start_throwaway_cluster
from tests.fixtures.replica import PrimaryWithReplica

INSERT = text("INSERT INTO t (v) VALUES (1) RETURNING inet_server_port()")


def _tables(node: PostgresCluster) -> set[str]:
    with psycopg.connect(node.url("app", driver="postgresql"), autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


async def test_migrations_refuse_to_run_against_a_standby(
    primary_with_replica: PrimaryWithReplica,
) -> None:
    with pytest.raises(ServerInRecoveryError, match="running migrations refused: the server is"):
        async with MigrationManager(primary_with_replica.replica.url("app")) as manager:
            await manager.upgrade()
    assert _tables(primary_with_replica.primary) == set()  # nothing ran anywhere


def test_the_cli_says_so_and_exits_1(
    primary_with_replica: PrimaryWithReplica, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "personal_assistant.cli.main", "migrate", "up",
         "--database-url", primary_with_replica.replica.url("app", driver="postgresql")],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "in recovery" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


@pytest.fixture
def two_primaries() -> Iterator[tuple[PostgresCluster, PostgresCluster]]:
    nodes = [start_throwaway_cluster(), start_throwaway_cluster()]
    try:
        for node in nodes:
            with psycopg.connect(node.url(driver="postgresql"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE app")
            with psycopg.connect(node.url("app", driver="postgresql"), autocommit=True) as conn:
                conn.execute("CREATE TABLE t (v int)")
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.cleanup()


async def test_a_primary_turned_read_only_is_left_for_the_writable_host(
    two_primaries: tuple[PostgresCluster, PostgresCluster],
) -> None:
    first, second = two_primaries
    hosts = f"127.0.0.1:{first.port},127.0.0.1:{second.port}"
    await db.init_engine(
        DatabaseConfig(url=f"postgresql://postgres@{hosts}/app", pool_size=3, max_overflow=0)
    )
    try:
        for _ in range(3):
            async with db.session_scope() as session:
                assert (await session.execute(INSERT)).scalar() == first.port
        with psycopg.connect(first.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            conn.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.5)  # the postmaster passes the reload on to every backend
        # The pooled connections still lead to the first host: one write fails (it is
        # not retried: it may have done something), and that drops them all.
        with pytest.raises(DBAPIError, match="read-only transaction"):
            async with db.session_scope() as session:
                await session.execute(INSERT)
        ports = set()
        for _ in range(5):
            async with db.session_scope() as session:
                ports.add((await session.execute(INSERT)).scalar())
        assert ports == {second.port}
        tracker = tracker_for(db.get_engine())
        assert tracker is not None
        assert (tracker.current, tracker.failovers) == (f"127.0.0.1:{second.port}", 1)
        assert db.get_pool_stats().invalidations >= 1
    finally:
        await db.dispose_engine()
