"""Fixtures for the optimizer tests: an engine, a setup connection and test settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import OptimizationReport


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
