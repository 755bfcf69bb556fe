"""Engine lifecycle and sessions.

One engine per process, opened by :func:`init_engine` (the FastAPI lifespan calls it)
and closed by :func:`dispose_engine`. Sessions come from :data:`SessionLocal` (an
``async_sessionmaker`` bound at ``init_engine``), the FastAPI dependency
:func:`get_db_session` (alias ``get_db``) or the :func:`session_scope` context manager.

Reads go through :func:`read_session` (FastAPI: :func:`get_read_db_session`), which
gives a :class:`~personal_assistant.database.reads.ReadSession`: autocommit (no
BEGIN/ROLLBACK), routed to a replica when one is usable, and running
:class:`~personal_assistant.database.compiled.CompiledStatement` objects on the fast path
(one round trip on a warm pool). Every session applies the retry-once rule for reads
(:mod:`personal_assistant.database.reads`).

Every path closes its session in a ``finally`` shielded from cancellation, so a
request cancelled mid-query (client gone, timeout) still returns its connection to the
pool instead of leaking it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.errors import EngineNotInitializedError
from personal_assistant.database.fast_path import Route, Target
from personal_assistant.database.pool_stats import PoolStats, PoolStatsCollector
from personal_assistant.database.reads import ReadSession, RetryingSession
from personal_assistant.database.replicas import Replica, ReplicaRouter
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.database.urls import mask_url

logger = logging.getLogger(__name__)

#: The conventional session factory name; bound to the engine by ``init_engine``.
SessionLocal: async_sessionmaker[AsyncSession] = async_sessionmaker(
    class_=AsyncSession, expire_on_commit=False, sync_session_class=RetryingSession
)


@dataclass
class EngineState:
    """What ``init_engine`` set up, kept together so it is disposed together."""

    engine: AsyncEngine
    config: DatabaseConfig
    stats: PoolStatsCollector
    replicas: ReplicaRouter | None = None
    read_engine: AsyncEngine | None = None  # the same pool, in autocommit mode
    #: Where reads go: the primary's read engine alone, and one target per replica.
    primary_route: Route = field(init=False)
    replica_targets: dict[int, Target] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.primary_route = Route((Target(self.read_engine or self.engine),))

    def read_route(self) -> Route:
        """The usable replicas (round-robin order), then the primary."""
        router = self.replicas
        replicas = router.candidates() if router is not None else ()
        if not replicas:
            return self.primary_route
        assert router is not None
        targets = tuple(self._replica_target(router, r) for r in replicas)
        return Route((*targets, *self.primary_route.targets))

    def _replica_target(self, router: ReplicaRouter, replica: Replica) -> Target:
        target = self.replica_targets.get(id(replica))
        if target is None:
            target = self.replica_targets[id(replica)] = Target(
                replica.read_engine or replica.engine,
                name=replica.name,
                mark_down=functools.partial(router.mark_down, replica),
            )
        return target


_state: EngineState | None = None

#: Callbacks run on each new engine, the primary's and every replica's (e.g. the
#: query performance tracker's ``attach``).
EngineHook = Callable[[AsyncEngine], None]


async def init_engine(
    config: DatabaseConfig, *, verify: bool = True, hooks: tuple[EngineHook, ...] = ()
) -> AsyncEngine:
    """Create the process-wide engine from ``config`` and bind ``SessionLocal`` to it.

    With ``verify`` (the default) one connection is opened at once, so a wrong URL or
    an unreachable server fails start-up (after the configured retries) rather than
    the first request.
    """
    global _state
    if _state is not None:
        await dispose_engine()
    stats = PoolStatsCollector(config.pool_size, config.max_overflow)
    engine = create_engine_from_config(config, stats)
    for hook in hooks:
        hook(engine)
    if verify:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except BaseException:
            await engine.dispose()
            raise
    router = await _start_replicas(config, hooks) if config.replica_urls else None
    SessionLocal.configure(bind=engine)
    _state = EngineState(
        engine=engine,
        config=config,
        stats=stats,
        replicas=router,
        read_engine=autocommit(engine),
    )
    logger.info(
        "database engine ready: %s (pool_size=%d, max_overflow=%d)",
        config.masked_url,
        config.pool_size,
        config.max_overflow,
    )
    return engine


async def _start_replicas(config: DatabaseConfig, hooks: tuple[EngineHook, ...]) -> ReplicaRouter:
    """Engines for the read replicas: no connect retries (the primary is the fallback)."""
    replica_config = config.model_copy(
        update={"connect_retries": 0, "connect_timeout": min(config.connect_timeout, 2.0)}
    )
    replicas = []
    for url in config.replica_url_list:
        stats = PoolStatsCollector(config.pool_size, config.max_overflow)
        engine = create_engine_from_config(replica_config, stats, url=url)
        for hook in hooks:
            hook(engine)
        replicas.append(
            Replica(name=mask_url(url), engine=engine, stats=stats, read_engine=autocommit(engine))
        )
    router = ReplicaRouter(
        replicas,
        max_lag_ms=config.max_replica_lag_ms,
        check_interval=config.replica_check_interval,
    )
    await router.start()
    return router


async def dispose_engine() -> None:
    """Close every pooled connection and forget the engine (idempotent)."""
    global _state
    state, _state = _state, None
    SessionLocal.configure(bind=None)
    if state is not None:
        if state.replicas is not None:
            await state.replicas.close()
        await state.engine.dispose()


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` (same pool) with each statement committed on its own: no BEGIN/COMMIT.

    For reads this changes nothing visible: at READ COMMITTED every statement takes
    its own snapshot anyway. It saves two round trips per read session.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _current() -> EngineState:
    if _state is None:
        raise EngineNotInitializedError()
    return _state


def get_engine() -> AsyncEngine:
    """The engine created by ``init_engine``."""
    return _current().engine


def get_config() -> DatabaseConfig:
    """The settings the current engine was built from."""
    return _current().config


def get_pool_stats() -> PoolStats:
    """Live pool figures for the current engine (see ``docs/connection-pooling.md``)."""
    return _current().stats.snapshot()


def get_stats_collector() -> PoolStatsCollector:
    return _current().stats


def get_replica_router() -> ReplicaRouter | None:
    """The read-replica router, or ``None`` when no replicas are configured."""
    return _current().replicas


def new_session() -> AsyncSession:
    """A session bound to the current engine (caller closes it)."""
    return SessionLocal(bind=get_engine())


async def _close_shielded(session: AsyncSession) -> None:
    # Shielded: if the caller is being cancelled, the close still completes and the
    # connection goes back to the pool; the cancellation is re-raised afterwards.
    try:
        await asyncio.shield(session.close())
    except DBAPIError as exc:
        # The connection died after the work was done (restart, terminated backend):
        # SQLAlchemy has discarded it already, so there is nothing left to clean up.
        if not exc.connection_invalidated:
            raise
        logger.warning("session closed on a lost connection (%s)", type(exc.orig).__name__)


async def get_db_session() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request, rolled back on error, always closed.

    It does not commit: the endpoint decides (``await session.commit()``), as in the
    usual FastAPI pattern; use :func:`session_scope` for commit-on-success.
    """
    session = new_session()
    try:
        yield session
    except BaseException:
        await asyncio.shield(session.rollback())
        raise
    finally:
        await _close_shielded(session)


#: Conventional alias.
get_db = get_db_session


async def open_read_session(*, managed: bool = True) -> ReadSession:
    """A session for reads: on a usable replica (round-robin), else on the primary.

    Statements run in autocommit mode (one round trip each, no BEGIN/COMMIT); each
    sees its own snapshot, as at READ COMMITTED inside a transaction. Nothing stops a
    write here on the primary: writes belong in :func:`session_scope`.

    No connection is taken yet, and none is kept: each statement takes one and gives
    it back (a replica that cannot be reached is marked down and the next target
    serves the statement). Only ``session.connection()`` and streamed results keep
    one, and only a ``managed`` session allows them: close it with
    :func:`close_read_session` (``read_session()`` does).
    """
    return ReadSession(_current().read_route(), managed=managed)


async def close_read_session(session: ReadSession) -> None:
    """Give back what a read session holds: nothing, unless it streamed or took a connection."""
    if session.holds_connection():
        await _close_shielded(session)


class _ReadScope:
    """``async with read_session() as s:`` (a class: cheaper than a generator on every read)."""

    __slots__ = ("_session",)

    async def __aenter__(self) -> ReadSession:
        self._session = await open_read_session()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await close_read_session(self._session)


def read_session() -> _ReadScope:
    """``async with read_session() as s:`` for read-only work; never commits.

    ``await user_has_permission(s, ...)`` and any other
    :class:`~personal_assistant.database.compiled.CompiledStatement` run on the fast
    path: one round trip on a warm pool.
    """
    return _ReadScope()


async def get_read_db_session() -> AsyncSession:
    """FastAPI dependency for read-only endpoints (routed to replicas when configured).

    A plain function, not a generator: a read session keeps no connection between
    statements, so there is nothing to close after the request, and FastAPI's exit
    stack for dependencies with ``yield`` (measured at ~0.1 ms per request here) is
    not paid. ``session.connection()`` and streamed results, which would keep one,
    raise instead; use ``read_session()`` for those.
    """
    return await open_read_session(managed=False)


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """``async with session_scope() as s:`` commits on success, rolls back on error."""
    session = new_session()
    try:
        yield session
        await session.commit()
    except BaseException:
        await asyncio.shield(session.rollback())
        raise
    finally:
        await _close_shielded(session)
