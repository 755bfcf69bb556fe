"""Fixtures for the optimizer tests: engines, roles, the real CLI and pgbench."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import OptimizationReport
from tests.fixtures.postgres import ServerInfo, find_pg_bin, require

PA_DB = Path(sys.executable).parent / "pa-db"


@pytest.fixture
async def engine(database_url: str, require_extensions: None) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, poolclass=NullPool)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def db(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to plant problems with (autocommit)."""
    conn = await asyncpg.connect(database_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def settings() -> OptimizerSettings:
    """Defaults, except thresholds a small test database could never reach."""
    return OptimizerSettings(bloat_min_bytes=1024 * 1024, cache_min_blocks=1000)


async def flush_stats(conn: asyncpg.Connection) -> None:
    """Make this session's counters visible to others now (PostgreSQL 15+)."""
    await conn.execute("SELECT pg_stat_force_next_flush()")


async def analyze(engine: AsyncEngine, settings: OptimizerSettings) -> OptimizationReport:
    return await DatabaseOptimizer(engine, settings).analyze()


Role = Callable[..., str]


@pytest.fixture
def make_role(pg_server: ServerInfo, database_name: str) -> Iterator[Role]:
    """``make_role(*grants)``: a new login role (cluster-wide, dropped afterwards);
    returns its ``postgresql+asyncpg://`` URL on the test database. ``grants`` are SQL
    run as the superuser with ``{role}`` replaced by the quoted role name."""
    made: list[str] = []
    admin_db = psycopg.conninfo.make_conninfo(pg_server.admin_dsn, dbname=database_name)

    def make(*grants: str) -> str:
        name = f"pa_opt_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_db, autocommit=True) as conn:
            ident = sql.Identifier(name).as_string(conn)
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(sql.Identifier(name)))
            made.append(name)
            for grant in grants:
                conn.execute(grant.format(role=ident).encode())
        return f"postgresql+asyncpg://{name}:pw@{pg_server.host}:{pg_server.port}/{database_name}"

    yield make
    with psycopg.connect(admin_db, autocommit=True) as conn:
        for name in made:
            ident = sql.Identifier(name)
            conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without DATABASE_*/OPTIMIZER_* settings, plus ``extra``."""
    ours = ("DATABASE_", "OPTIMIZER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)} | extra


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real ``pa-db`` in a fresh process (no .env picked up: runs in ``cwd``)."""
    return subprocess.run(
        [str(PA_DB), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**(env or {})),
        cwd=cwd or Path("/tmp"),
        check=False,
    )


def pgbench_path() -> Path:
    """Debian's pgbench, beside the server binaries; skips (fails under CI) without it."""
    bin_dir = find_pg_bin()
    path = bin_dir / "pgbench" if bin_dir else None
    require(path is not None and path.exists(), "pgbench not found beside the server binaries")
    assert path is not None
    return path


def pgbench(dsn: str, *args: str, timeout: float = 300) -> str:
    """Run pgbench against ``dsn`` (a libpq URL); returns its output, fails on error."""
    out = subprocess.run(
        [str(pgbench_path()), *args, dsn],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr
