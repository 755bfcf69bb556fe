"""The fast path: one compiled statement on one pooled driver connection, one round trip.

:meth:`.compiled.CompiledStatement.scalar` on a read session that holds no connection
lands here (:func:`run`). In one greenlet, as SQLAlchemy runs its own statements:

1. **Checkout** from the engine's own pool (``pool.connect()``): the instrumented pool
   times the wait, the statistics collector counts the checkout, and the pre-ping
   checks the connection only if it sat idle longer than ``DATABASE_POOL_PRE_PING_IDLE``.
   There is no second pool. A replica whose connection cannot be opened is marked
   down and the next target of the session's :class:`Route` is tried (the primary last).
2. **The statement**: the plan compiled once for this engine's dialect
   (:class:`~.compiled.Plan`) goes to the driver as is: ``fetchval``/``fetch``, which
   asyncpg runs as a named prepared statement from its statement cache, or (cache off,
   ``DATABASE_PGBOUNCER=true``) as an unnamed one re-parsed in the same round trip, the
   only form transaction-mode PgBouncer serves correctly. The engine's
   ``before_cursor_execute``/``after_cursor_execute`` listeners (the query tracker)
   run around it, with ``conn=None`` (no ``Connection`` exists here) and a
   :class:`FastPathContext`.
3. **Checkin** at once; no reset round trip, since no transaction was begun.

Errors are raised as SQLAlchemy raises them on the ORM path (``DBAPIError`` and its
subclasses, ``connection_invalidated`` set when the connection died; other errors
unchanged), after the dialect's ``handle_error`` listeners have seen them. A
connection that died is discarded with every connection opened before it (SQLAlchemy's
pool-wide invalidation), and the statement — a read, outside any transaction — is run
once more on a fresh connection. A second failure is raised.

Three private SQLAlchemy pieces are used, each pinned by
``tests/database/test_fast_path_internals.py``: ``Pool._invalidate`` (the pool-wide
invalidation the ORM path performs), ``ExceptionContextImpl`` (to call ``handle_error``
listeners) and the asyncpg adapter's ``_handle_exception`` (its DB-API error mapping).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy.engine import Engine
from sqlalchemy.engine.base import ExceptionContextImpl
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import EMPTY_DICT

from personal_assistant.database.errors import convert_db_error
from personal_assistant.database.greenlets import run_sync

if TYPE_CHECKING:
    from sqlalchemy.pool import PoolProxiedConnection

    from personal_assistant.database.compiled import CompiledStatement, Plan

__all__ = ["FastPathContext", "Route", "Target", "run"]

logger = logging.getLogger(__name__)

#: SQLSTATEs after which a connection is not trusted again: class 08 (connection
#: exception) and the server shutting down, crashing or starting (57P01-57P03).
_LOST_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03")


@dataclass(eq=False, slots=True)
class Target:
    """One engine reads can go to: the primary's, or a replica's."""

    #: The engine read sessions bind to (autocommit, on the engine's pool).
    engine: AsyncEngine
    #: The replica's masked URL; ``None`` for the primary.
    name: str | None = None
    #: Takes a failed replica out of rotation (``None`` for the primary).
    mark_down: Callable[[Exception], None] | None = None
    sync: Engine = field(init=False)
    plans: dict[CompiledStatement, Plan] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.sync = self.engine.sync_engine

    @property
    def is_replica(self) -> bool:
        return self.name is not None

    def plan(self, statement: CompiledStatement) -> Plan:
        """``statement`` compiled for this engine's dialect (once per engine)."""
        plan = self.plans.get(statement)
        if plan is None:
            plan = self.plans[statement] = statement.plan(self.sync.dialect)
        return plan


class Route:
    """Where one read session's statements go: its targets in order, the current first."""

    __slots__ = ("targets", "info")

    def __init__(self, targets: tuple[Target, ...], info: dict[Any, Any] | None = None) -> None:
        self.targets = targets
        #: The session's ``info``, whose ``"replica"`` names the current target.
        self.info = info

    @property
    def current(self) -> Target:
        return self.targets[0]

    def skip(self, exc: Exception) -> bool:
        """Give up on the current target, a replica that failed; ``False``: none is left."""
        target = self.targets[0]
        if not target.is_replica or len(self.targets) < 2:
            return False
        if target.mark_down is not None:
            target.mark_down(exc)
        self.targets = self.targets[1:]
        if self.info is not None:
            self.info["replica"] = self.targets[0].name
        return True


class FastPathContext:
    """The ``context`` cursor-event listeners receive on the fast path.

    Listeners may set attributes on it (the query tracker keeps its start time here),
    as they do on SQLAlchemy's execution context.
    """

    __slots__ = ("statement", "parameters", "engine", "execution_options", "__dict__")

    def __init__(self, statement: str, parameters: Sequence[Any], engine: Engine) -> None:
        self.statement = statement
        self.parameters = parameters
        self.engine = engine
        self.execution_options: Mapping[str, Any] = EMPTY_DICT


async def run(
    route: Route, statement: CompiledStatement, params: Mapping[str, Any], scalar: bool
) -> Any:
    """Run ``statement`` once (twice if the connection died).

    Returns the first column of the first row (``scalar``) or of every row.
    """
    for attempt in (1, 2):
        target, conn = await run_sync(_checkout, route)
        value, lost = await _execute(target, conn, statement, params, scalar)
        if lost is None:
            return value
        if attempt == 2:
            raise lost
        logger.warning(
            "a read lost its connection (%s); retrying once on a fresh connection",
            type(lost.orig).__name__ if isinstance(lost, DBAPIError) else type(lost).__name__,
        )
    raise AssertionError("unreachable")


def _checkout(route: Route) -> tuple[Target, PoolProxiedConnection]:
    """Check a connection out of the current target's pool (in a greenlet: it may connect)."""
    while True:
        target = route.current
        try:
            return target, target.sync.pool.connect()
        except Exception as exc:
            if convert_db_error(exc, "opening a read connection") is None or not route.skip(exc):
                _raise_for_checkout(target, exc)
            logger.info("replica %s unusable at checkout: %s", target.name, type(exc).__name__)


async def _execute(
    target: Target,
    conn: PoolProxiedConnection,
    statement: CompiledStatement,
    params: Mapping[str, Any],
    scalar: bool,
) -> tuple[Any, BaseException | None]:
    """``(value, None)``; or ``(None, error)`` when the connection died (it is discarded)."""
    sql, args = "", ()
    try:
        plan = target.plan(statement)
        sql, args = plan.sql, plan.arguments(params)
        raw = await _call(target, conn, sql, args, scalar)
    except Exception as exc:
        try:
            error, lost = _wrap(target, conn, exc, sql, args)
        except BaseException:
            await run_sync(conn.close)
            raise
        if lost:
            # As the ORM path does on a disconnect: this connection is discarded and
            # every one opened before it is replaced at its next checkout.
            await run_sync(target.sync.pool._invalidate, conn, exc)
            return None, error
        await run_sync(conn.close)
        if error is exc:
            raise
        raise error from exc
    except BaseException:
        # Cancelled mid-query: asyncpg cancels the statement on the server, and the
        # next user of the connection waits for that to finish. It goes back now
        # (the checkin does no I/O unless it closes a surplus overflow connection).
        await run_sync(conn.close)
        raise
    await run_sync(conn.close)
    if scalar:
        return plan.value(0, raw), None
    if plan.result_processors is None:
        return [row[0] for row in raw], None
    return [plan.value(0, row[0]) for row in raw], None


async def _call(
    target: Target, conn: PoolProxiedConnection, sql: str, args: Sequence[Any], scalar: bool
) -> Any:
    """The round trip, between the engine's cursor events."""
    dispatch = target.sync.dispatch
    context = None
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        context = FastPathContext(sql, args, target.sync)
        for before in dispatch.before_cursor_execute:
            sql, args = before(None, None, sql, args, context, False)
    driver: Any = conn.driver_connection
    if scalar:
        raw = await driver.fetchval(sql, *args)
    else:
        raw = await driver.fetch(sql, *args)
    if context is not None:
        for after in dispatch.after_cursor_execute:
            after(None, None, sql, args, context, False)
    return raw


def _is_lost(exc: BaseException, driver: Any) -> bool:
    if driver is not None and driver.is_closed():
        return True
    code = getattr(exc, "sqlstate", None)
    return isinstance(code, str) and code.startswith(_LOST_SQLSTATE_PREFIXES)


def _wrap(
    target: Target,
    conn: PoolProxiedConnection,
    exc: Exception,
    sql: str,
    args: Sequence[Any],
) -> tuple[BaseException, bool]:
    """``exc`` as the ORM path would raise it, and whether the connection died."""
    dialect = target.sync.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    translated: BaseException = exc
    if not isinstance(exc, dbapi_error | StatementError):
        try:
            # The adapter's own mapping of asyncpg errors to DB-API classes.
            conn.dbapi_connection._handle_exception(exc)  # type: ignore[union-attr]
        except Exception as mapped:
            translated = mapped
    lost = _is_lost(exc, conn.driver_connection)
    wrapped: StatementError | None = None
    if isinstance(translated, dbapi_error):
        wrapped = DBAPIError.instance(
            sql, args, translated, dbapi_error,
            hide_parameters=target.sync.hide_parameters, connection_invalidated=lost,
            dialect=dialect,
        )  # fmt: skip
    error, lost = _handle_error(target, translated, wrapped, sql, args, lost)
    return error, lost


def _handle_error(
    target: Target,
    original: BaseException,
    wrapped: StatementError | None,
    sql: str | None,
    args: Sequence[Any] | None,
    lost: bool,
) -> tuple[BaseException, bool]:
    """Let the dialect's ``handle_error`` listeners see the error, as the ORM path does."""
    dialect = target.sync.dialect
    error: BaseException = wrapped if wrapped is not None else original
    if not dialect._has_events:
        return error, lost
    ctx = ExceptionContextImpl(
        original, wrapped, target.sync, dialect, None, None, sql, args, None, lost, True, False
    )
    for handler in dialect.dispatch.handle_error:
        try:
            replacement = handler(ctx)
        except Exception as raised:
            error = raised
            break
        if replacement is not None:
            ctx.chained_exception = error = replacement
    if isinstance(wrapped, DBAPIError):
        wrapped.connection_invalidated = ctx.is_disconnect
    return error, ctx.is_disconnect


def _raise_for_checkout(target: Target, exc: Exception) -> NoReturn:
    """Raise a checkout failure after the ``handle_error`` listeners have seen it."""
    error, _ = _handle_error(target, exc, None, None, None, False)
    if error is exc:
        raise exc
    raise error from exc
