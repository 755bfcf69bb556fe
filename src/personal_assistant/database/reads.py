"""Reads: the retry-once rule, read routing, and the session ``read_session()`` yields.

**Retry once.** The pre-ping checks only connections idle longer than
``DATABASE_POOL_PRE_PING_IDLE``; a warm connection that died since (a restart, a
terminated backend, a failover) is found by the statement that uses it. A *read* that
fails that way is run once more on a fresh connection, transparently, when nothing can
be lost by doing so:

* the statement is a ``SELECT`` construct (``select()``, ``union()``, ``session.get()``,
  a :class:`~.compiled.CompiledStatement`), never ``text()`` or DML on the primary,
  whose effects cannot be known; on a replica anything may be retried, since a standby
  writes nothing;
* it is the first statement of the session's transaction: nothing earlier ran on the
  dead connection, and the transaction was not begun by the caller (``session.begin()``
  or a statement before it make ``in_transaction()`` true, and then nothing is retried);
* the session has no pending changes that an autoflush would write first.

SQLAlchemy has already discarded the dead connection and every connection opened before
it (pool-wide invalidation on a disconnect), so the second attempt runs on a freshly
opened one. A second failure is raised. :class:`RetryingSession` (the sync session of
every project session) applies the rule in its ``do_orm_execute`` event; the fast path
(:mod:`.fast_path`) applies it to compiled statements.

**Routing.** A :class:`ReadSession` carries a :class:`~.fast_path.Route`: the usable
replicas in round-robin order, then the primary. Its sync session binds every statement
to the route's current target (``get_bind``, SQLAlchemy's documented routing hook). No
connection is taken when the session opens; the first statement takes one, and a
replica that cannot be reached (or whose connection died) is marked down and the next
target serves the statement, so a replica going away costs no failed read.

**No BEGIN, no ROLLBACK.** Read sessions run in autocommit mode, each statement its own
snapshot as at READ COMMITTED. A compiled statement on a read session that holds no
connection takes the fast path (checkout, one round trip, checkin); a read session is
closed only if an ORM statement left it holding a connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import CompoundSelect, Select

from personal_assistant.database import fast_path
from personal_assistant.database.errors import convert_db_error
from personal_assistant.database.fast_path import Route
from personal_assistant.database.greenlets import run_sync

__all__ = ["ReadSession", "RetryingSession"]

logger = logging.getLogger(__name__)


class RetryingSession(Session):
    """The sync ``Session`` of every project session: applies the retry-once rule."""


class ReadSyncSession(RetryingSession):
    """The sync half of a :class:`ReadSession`: statements go where its route says."""

    def __init__(self, *, pa_route: Route, **kw: Any) -> None:
        super().__init__(**kw)
        self.pa_route = pa_route

    def get_bind(
        self,
        mapper: Any = None,
        *,
        clause: Any = None,
        bind: Any = None,
        **kw: Any,
    ) -> Engine | Connection:
        return self.pa_route.current.sync


class ReadSession(AsyncSession):
    """What ``read_session()`` and ``ReadSessionDep`` give: an ``AsyncSession`` for reads.

    Autocommit, routed (replicas first), retry-once for reads, and the fast path for
    :class:`~.compiled.CompiledStatement` objects. ``info["replica"]`` names the replica the
    session's statements go to (``None``: the primary).
    """

    sync_session: ReadSyncSession

    def __init__(self, route: Route) -> None:
        super().__init__(sync_session_class=ReadSyncSession, pa_route=route, expire_on_commit=False)
        self.info["replica"] = route.current.name
        if len(route.targets) > 1:  # it may move on to another target: keep info in step
            route.info = self.info

    @property
    def route(self) -> Route:
        return self.sync_session.pa_route

    async def run_compiled(self, statement: Any, params: Mapping[str, Any], *, scalar: bool) -> Any:
        """Run a compiled statement on the fast path (the session must hold no connection)."""
        return await run_sync(fast_path.run, self.route, statement, params, scalar)


def _is_select(statement: Any) -> bool:
    return isinstance(statement, Select | CompoundSelect)


def _retry_once(state: ORMExecuteState) -> Result[Any]:
    try:
        return state.invoke_statement()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        logger.warning(
            "a read lost its connection (%s); retrying once on a fresh connection",
            type(exc.orig).__name__,
        )
    state.session.rollback()  # the failed transaction held only the dead connection
    return state.invoke_statement()


def _routed(state: ORMExecuteState, route: Route, read: bool) -> Result[Any] | None:
    """The first statement of a read session with replicas: fall back target by target."""
    session = state.session
    retried = False
    while True:
        target = route.current
        if not (read or target.is_replica):
            return None  # on the primary, not a read: it runs once, as it is
        try:
            session.connection()
        except Exception as exc:
            if convert_db_error(exc, "opening a read connection") is None or not route.skip(exc):
                raise
            session.rollback()
            logger.info("replica %s unusable: %s", target.name, type(exc).__name__)
            continue
        try:
            return state.invoke_statement()
        except DBAPIError as exc:
            if not exc.connection_invalidated or retried:
                raise
        retried = True
        session.rollback()


@event.listens_for(RetryingSession, "do_orm_execute")
def _first_statement(state: ORMExecuteState) -> Result[Any] | None:
    """Apply the retry-once rule (module docstring) to a session's first statement."""
    session = state.session
    if session.in_transaction():
        return None  # not the first statement: never retried
    read = _is_select(state.statement) and not (session.new or session.dirty or session.deleted)
    if isinstance(session, ReadSyncSession) and len(session.pa_route.targets) > 1:
        return _routed(state, session.pa_route, read)
    return _retry_once(state) if read else None
