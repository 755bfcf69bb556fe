"""The engine factory: one ``AsyncEngine`` with the instrumented pool, built from settings.

All engine options are decided here, in one place, from a :class:`DatabaseConfig`:
pool sizing, connection retries, the one-round-trip pre-ping, server settings, and the
prepared-statement caches (off behind PgBouncer, where they give wrong results).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from personal_assistant.database.failover import (
    PrimaryTracker,
    install_failover_detection,
    watch_connects,
)
from personal_assistant.database.ping import install_pre_ping
from personal_assistant.database.pool import InstrumentedAsyncPool
from personal_assistant.database.pool_stats import PoolStatsCollector
from personal_assistant.database.retry import make_async_creator
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.database.urls import mask_url, url_hosts


def create_engine_from_config(
    config: DatabaseConfig,
    stats: PoolStatsCollector | None = None,
    *,
    url: URL | None = None,
) -> AsyncEngine:
    """Build the async engine and its instrumented pool from ``config``.

    Connections are opened by :func:`make_async_creator`, which retries with
    exponential backoff and jitter; statements are never retried, because one that
    failed half-way may already have had side effects.
    """
    # Replicas pass their own URL; only the primary's engine follows a failover.
    tracker = PrimaryTracker(hosts=url_hosts(config.sqlalchemy_url)) if url is None else None
    url = url or config.sqlalchemy_url
    collector = stats or PoolStatsCollector(config.pool_size, config.max_overflow)
    holder: dict[str, AsyncEngine] = {}
    async_connect = make_async_creator(
        url,
        policy=config.retry_policy(),
        connect_timeout=config.connect_timeout,
        server_settings=config.server_settings(),
        statement_cache_size=0 if config.pgbouncer else 100,
        masked_url=mask_url(url),
        command_timeout=config.effective_command_timeout,
    )
    if tracker is not None:
        async_connect = watch_connects(tracker, async_connect)

    def creator() -> Any:
        # The adapted DB-API connect is what SQLAlchemy itself would call; going
        # through it keeps SQLAlchemy's asyncpg adaptation while letting us pass
        # the prepared-statement cache size (zero behind PgBouncer).
        dbapi = holder["engine"].sync_engine.dialect.dbapi
        assert dbapi is not None
        return dbapi.connect(
            async_creator_fn=async_connect,
            prepared_statement_cache_size=0 if config.pgbouncer else 100,
        )

    engine = create_async_engine(
        url,
        creator=creator,
        poolclass=InstrumentedAsyncPool,
        pool_size=config.pool_size,
        max_overflow=config.max_overflow,
        pool_timeout=config.pool_timeout,
        pool_recycle=config.pool_recycle,
        pool_pre_ping=False,  # ours is one round trip instead of three (database/ping.py)
        # InstrumentedAsyncPool's own arguments (create_engine passes them to the pool):
        overflow_grace=config.pool_overflow_grace,
        stats_collector=collector,
        echo=config.echo,
        hide_parameters=True,
    )
    holder["engine"] = engine
    if config.pool_pre_ping:
        install_pre_ping(engine, idle_s=config.pool_pre_ping_idle)
    collector.attach(engine)
    if tracker is not None:
        install_failover_detection(engine, tracker)
    if config.pgbouncer and config.timeouts(explicit_only=True):
        _set_timeouts_per_transaction(engine, config.timeouts(explicit_only=True))
    return engine


def _set_timeouts_per_transaction(engine: AsyncEngine, timeouts: dict[str, str]) -> None:
    """Apply timeouts with ``set_config(..., is_local => true)`` at each BEGIN.

    Transaction-local settings vanish at COMMIT/ROLLBACK, so nothing leaks to the
    next client PgBouncer hands the server connection to. Costs one round trip per
    transaction, only in PgBouncer mode.
    """
    calls = ", ".join(f"set_config('{name}', :{name}, true)" for name in timeouts)
    statement = text(f"SELECT {calls}")  # names are our own constants; values are bound

    def on_begin(conn: Any) -> None:
        conn.execute(statement, timeouts)

    event.listen(engine.sync_engine, "begin", on_begin)
