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
  or a statement before it make ``in_transaction()`` true, and then nothing is retried).
  On a read session every statement is one: it keeps nothing between statements;
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

**No BEGIN, no ROLLBACK, no held connection.** Read sessions run in autocommit mode,
each statement its own snapshot as at READ COMMITTED. A compiled statement takes the
fast path (checkout, one round trip, checkin); an ORM statement's rows are read at once
(``Result.freeze()``) and its connection goes straight back (``commit()``: no round trip
in autocommit, and loaded objects stay). So a read session holds nothing between
statements and the FastAPI dependency needs no ``yield``. Only streamed results and
``session.connection()`` keep a connection, and only a session that someone closes
(``read_session()``) may do that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import CompoundSelect, Select

from personal_assistant.database import fast_path
from personal_assistant.database.errors import convert_db_error
from personal_assistant.database.fast_path import Route

__all__ = ["ReadSession", "RetryingSession"]

_UNMANAGED = (
    "this read session gives its connection back after each statement and nobody closes "
    "it (ReadSessionDep): for session.connection() or streaming results use "
    "'async with read_session() as session:'"
)

logger = logging.getLogger(__name__)


class RetryingSession(Session):
    """The sync ``Session`` of every project session: applies the retry-once rule."""


class ReadSyncSession(RetryingSession):
    """The sync half of a :class:`ReadSession`: statements go where its route says."""

    def __init__(self, *, pa_route: Route, pa_managed: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.pa_route = pa_route
        #: Whether someone closes this session (``read_session()`` does; a FastAPI
        #: dependency without ``yield`` does not): only then may it hold a connection.
        self.pa_managed = pa_managed

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

    Autocommit, routed (replicas first), retry-once for reads, no connection held
    between statements, and the fast path for
    :class:`~.compiled.CompiledStatement` objects. ``info["replica"]`` names the replica
    the session's statements go to (``None``: the primary).

    The sync ``Session`` behind it (and SQLAlchemy's proxy bookkeeping) is built on first
    use: a request whose reads are all compiled statements never needs one, and building
    it was a tenth of the layer's time per request.
    """

    def __init__(self, route: Route, *, managed: bool = True) -> None:
        # AsyncSession.__init__ runs in _build(), on first use of the sync session.
        self._pa_route = route
        self._pa_managed = managed

    def _build(self) -> ReadSyncSession:
        route = self._pa_route
        AsyncSession.__init__(
            self,
            sync_session_class=ReadSyncSession,
            pa_route=route,
            pa_managed=self._pa_managed,
            expire_on_commit=False,
        )
        sync: ReadSyncSession = self.__dict__["_pa_sync"]
        sync.info["replica"] = route.current.name
        if len(route.targets) > 1:  # it may move on to another target: keep info in step
            route.info = sync.info
        return sync

    @property  # type: ignore[override]
    def sync_session(self) -> ReadSyncSession:
        sync: ReadSyncSession | None = self.__dict__.get("_pa_sync")
        return sync if sync is not None else self._build()

    @sync_session.setter
    def sync_session(self, value: ReadSyncSession) -> None:
        self.__dict__["_pa_sync"] = value

    _proxied = sync_session  # what AsyncSession's proxied methods read

    @property
    def route(self) -> Route:
        return self._pa_route

    def holds_connection(self) -> bool:
        """Whether a statement left this session holding a connection (never built: no)."""
        sync: ReadSyncSession | None = self.__dict__.get("_pa_sync")
        return sync is not None and sync.in_transaction()

    async def connection(self, *args: Any, **kw: Any) -> AsyncConnection:
        """The session's connection, held until it closes: only in ``read_session()``."""
        if not self._pa_managed:
            raise InvalidRequestError(_UNMANAGED)
        return await super().connection(*args, **kw)

    async def run_compiled(self, statement: Any, params: Mapping[str, Any], *, scalar: bool) -> Any:
        """Run a compiled statement on the fast path (the session must hold no connection)."""
        return await fast_path.run(self._pa_route, statement, params, scalar)


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


def _routed(state: ORMExecuteState, route: Route, read: bool) -> Result[Any]:
    """A statement of a read session with replicas: fall back target by target."""
    session = state.session
    retried = False
    while True:
        target = route.current
        if not (read or target.is_replica):
            return state.invoke_statement()  # on the primary, not a read: once, as it is
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


def _read_statement(state: ORMExecuteState, session: ReadSyncSession) -> Result[Any] | None:
    """A read session's statement: routed, retried once, its connection given back at once."""
    options = state.execution_options
    if options.get("stream_results") or options.get("yield_per"):
        if not session.pa_managed:
            raise InvalidRequestError(_UNMANAGED)
        return None  # a server-side cursor holds the connection until read_session() ends
    read = _is_select(state.statement) and not (session.new or session.dirty or session.deleted)
    try:
        if len(session.pa_route.targets) > 1:
            result = _routed(state, session.pa_route, read)
        elif read:
            result = _retry_once(state)
        else:
            result = state.invoke_statement()
        if not getattr(result, "returns_rows", True):
            session.commit()
            return result
        frozen = result.freeze()  # the rows, read now: the connection can go
    except BaseException:
        session.rollback()
        raise
    session.commit()  # autocommit: no round trip; gives the connection back, keeps objects
    return frozen()


@event.listens_for(RetryingSession, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> Result[Any] | None:
    """The retry-once rule (module docstring); read sessions also give their connection back."""
    session = state.session
    if session.in_transaction():
        return None  # not the first statement of a transaction: never retried
    if isinstance(session, ReadSyncSession):
        return _read_statement(state, session)
    read = _is_select(state.statement) and not (session.new or session.dirty or session.deleted)
    return _retry_once(state) if read else None
