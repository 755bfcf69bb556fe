"""Following the primary through a failover: notice it is gone, drop its connections.

With several hosts in ``DATABASE_URL`` (``postgresql://app@db1:5432,db2:5432/app``;
``target_session_attrs=read-write`` is added when not given) every *new* connection goes
to whichever host accepts writes: asyncpg tries them in order within
``DATABASE_CONNECT_TIMEOUT``, and the connect retries wait out a switch in progress.
This module handles the connections the pool already holds, which still lead to the
old primary:

* A statement that fails because that host is gone or no longer writable (SQLSTATE
  ``25006`` read_only_sql_transaction: it is a standby now; ``57P01``-``57P03``: it shut
  down, crashed or is starting; class ``08``: the connection broke) is marked as a
  *disconnect* in SQLAlchemy's ``handle_error`` event. SQLAlchemy then discards that
  connection and invalidates the whole pool, so every connection opened before the
  failure is replaced at its next checkout instead of failing a request of its own.
  The failed statement is not retried: it may have had effects before it failed.
* :class:`PrimaryTracker` records where each new connection landed (``host:port`` as
  configured, never credentials), when the primary was lost and why, and when a
  writable host was reached again. ``/health/ready`` answers 503 with the reason while
  the primary is lost (:func:`confirm_primary` looks again, with one connection), and
  ``/health/database`` names the current primary for callers with read access (when
  several hosts are configured: with one, the body names no address).

Only the primary's engine gets this: a replica refusing a write (``25006``) is normal.

The error tree (under :class:`personal_assistant.database.errors.DatabaseError`)::

    DatabaseError
    └── ServerInRecoveryError   migrations (or other writes) were pointed at a standby
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from personal_assistant.database.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    convert_db_error,
)

__all__ = [
    "PrimaryTracker",
    "ServerInRecoveryError",
    "confirm_primary",
    "ensure_primary",
    "install_failover_detection",
    "primary_gone_reason",
    "tracker_for",
    "watch_connects",
]

logger = logging.getLogger(__name__)

#: The host is a standby now (or the transaction was declared read-only).
READ_ONLY_SQLSTATE = "25006"
#: The connection broke (class 08), or the server shut down, crashed or is starting.
_GONE_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03")
IN_RECOVERY = text("SELECT pg_is_in_recovery()")

_trackers: weakref.WeakKeyDictionary[Engine, PrimaryTracker] = weakref.WeakKeyDictionary()


class ServerInRecoveryError(DatabaseError):
    """Raised when work that writes (a migration run) finds its server in recovery."""

    __module__ = "personal_assistant.database.failover"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} refused: the server is in recovery (a standby or replica), so it "
            "accepts no writes; point it at the primary (DATABASE_MIGRATION_URL or "
            "DATABASE_URL, with target_session_attrs=read-write when it names several hosts)"
        )


def primary_gone_reason(exc: BaseException | None) -> str | None:
    """Why ``exc`` means the primary is gone or read-only (``None``: it does not)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "sqlstate", None)
        if code == READ_ONLY_SQLSTATE:
            return "the server is read-only (SQLSTATE 25006: a standby now)"
        if isinstance(code, str) and code.startswith(_GONE_SQLSTATE_PREFIXES):
            return f"the server went away (SQLSTATE {code}, {type(exc).__name__})"
        exc = exc.__cause__ or getattr(exc, "orig", None)
    return None


@dataclass
class PrimaryTracker:
    """Where the primary's connections go, and whether the primary is currently lost."""

    hosts: tuple[str, ...]
    current: str | None = None
    lost_since: float | None = None  # monotonic
    lost_reason: str | None = None
    last_outage_s: float | None = None  # from the last loss to a writable host again
    recoveries: int = 0  # losses followed by a writable host (the same one or another)
    failovers: int = 0  # times the writable host changed

    def lost(self, reason: str) -> None:
        """The primary failed us (``reason`` names no host or credential)."""
        self.lost_reason = reason
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            logger.warning("primary %s lost: %s", self.current or "?", reason)

    def reached(self, host: str | None, *, writable: bool) -> None:
        """A new connection opened on ``host``; ``writable`` unless it is a standby."""
        if not writable:
            self.lost("a new connection reached a standby, not a primary")
            return
        if self.current is not None and host != self.current:
            self.failovers += 1
            logger.warning("the primary is now %s (was %s)", host, self.current)
        if self.lost_since is not None:
            self.last_outage_s = time.monotonic() - self.lost_since
            self.recoveries += 1
            logger.warning("primary reached on %s after %.2f s", host, self.last_outage_s)
        self.current = host
        self.lost_since = self.lost_reason = None

    def gap(self) -> str | None:
        """Why writes cannot be served now, or ``None`` when the primary is reachable."""
        if self.lost_since is None:
            return None
        return (
            f"primary lost {time.monotonic() - self.lost_since:.1f} s ago "
            f"({self.lost_reason}); waiting for a host that accepts writes"
        )

    def as_dict(self) -> dict[str, Any]:
        """For callers with read access: no credentials, and addresses only when several
        hosts are configured (with one there is nothing to choose, so nothing to name)."""
        lost = None if self.lost_since is None else time.monotonic() - self.lost_since
        body: dict[str, Any] = {}
        if len(self.hosts) > 1:
            body.update(
                host=None if lost is not None else self.current,
                last_host=self.current,
                hosts=list(self.hosts),
            )
        return body | {
            "lost_seconds": None if lost is None else round(lost, 2),
            "lost_reason": self.lost_reason,
            "failovers": self.failovers,
            "recoveries": self.recoveries,
            "last_outage_s": None if self.last_outage_s is None else round(self.last_outage_s, 3),
        }


def tracker_for(engine: AsyncEngine) -> PrimaryTracker | None:
    """The tracker :func:`install_failover_detection` gave ``engine`` (``None``: none)."""
    return _trackers.get(engine.sync_engine)


def _host_of(driver_conn: Any) -> str | None:
    # asyncpg keeps the address it chose among the configured hosts in ``_addr``
    # (pinned by a test): (host, port) as written in the URL, or a socket path.
    addr = getattr(driver_conn, "_addr", None)
    if isinstance(addr, tuple) and len(addr) == 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr) if addr else None


def _is_standby(driver_conn: Any) -> bool:
    # PostgreSQL 14+ reports in_hot_standby at start-up (no round trip); PgBouncer does
    # not pass it on, and then asyncpg's target_session_attrs check is what we rely on.
    settings = driver_conn.get_settings()
    return getattr(settings, "in_hot_standby", "off") == "on"


def watch_connects(
    tracker: PrimaryTracker, connect: Callable[[], Awaitable[Any]]
) -> Callable[[], Awaitable[Any]]:
    """``connect`` that tells ``tracker`` when no host took a new connection.

    SQLAlchemy's ``handle_error`` does not see errors raised by a pool's creator.
    """

    async def watched() -> Any:
        try:
            return await connect()
        except DatabaseUnavailableError as exc:
            if tracker.current is not None:  # we had a primary: this is not start-up
                tracker.lost(f"no host accepted a new connection ({_cause_name(exc)})")
            raise

    return watched


def _cause_name(exc: BaseException) -> str:
    return type(exc.__cause__ or exc).__name__


def install_failover_detection(engine: AsyncEngine, tracker: PrimaryTracker) -> None:
    """Mark lost-primary errors as disconnects on ``engine``; keep ``tracker`` informed."""
    _trackers[engine.sync_engine] = tracker

    def on_error(ctx: ExceptionContext) -> None:
        reason = primary_gone_reason(ctx.original_exception)
        if reason is None and not ctx.is_disconnect:
            return
        # Discards this connection and invalidates the pool (SQLAlchemy's default
        # invalidate_pool_on_disconnect): the others led to the same old primary.
        ctx.is_disconnect = True
        tracker.lost(reason or f"the connection was lost ({type(ctx.original_exception).__name__})")

    def on_invalidate(dbapi_conn: Any, record: ConnectionPoolEntry, exc: Any) -> None:
        # Also a connection that failed its pre-ping at checkout (DisconnectionError).
        if exc is not None:
            tracker.lost(
                primary_gone_reason(exc) or f"the connection was lost ({_cause_name(exc)})"
            )

    def on_connect(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        driver = dbapi_conn.driver_connection
        tracker.reached(_host_of(driver), writable=not _is_standby(driver))

    event.listen(engine.sync_engine, "handle_error", on_error)
    event.listen(engine.sync_engine, "invalidate", on_invalidate)
    event.listen(engine.sync_engine, "connect", on_connect)


async def confirm_primary(engine: AsyncEngine, timeout_s: float) -> str | None:
    """After a loss, look again; ``None`` when a writable host answers.

    Without traffic nothing else would notice that the new primary is up. One checkout
    (a fresh connection, as the pool was invalidated when the loss was seen) and one
    round trip tell where it landed and whether that host is in recovery.
    """
    tracker = tracker_for(engine)
    if tracker is None or tracker.gap() is None:
        return None
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            standby = bool(await conn.scalar(IN_RECOVERY))
            raw = await conn.get_raw_connection()
            tracker.reached(_host_of(raw.driver_connection), writable=not standby)
    except Exception as exc:
        if convert_db_error(exc, "reaching the primary") is None:
            raise
        # Named by class only: this reason is shown on an open endpoint.
        failed = getattr(exc, "orig", None) or exc.__cause__ or exc
        return f"{tracker.gap()}; last attempt: {type(failed).__name__}"
    return tracker.gap()


async def ensure_primary(conn: AsyncConnection, what: str) -> None:
    """Raise :class:`ServerInRecoveryError` when ``conn``'s server is in recovery."""
    if await conn.scalar(IN_RECOVERY):
        raise ServerInRecoveryError(what)
