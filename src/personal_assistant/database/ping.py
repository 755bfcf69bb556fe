"""Checking a pooled connection before handing it out, in one round trip.

SQLAlchemy's own ``pool_pre_ping`` on asyncpg wraps its ping in a transaction (BEGIN,
``;``, ROLLBACK: three round trips on every checkout), which on a cheap query costs
more than the query. We ping with asyncpg's simple-query ``execute("SELECT 1")`` instead:
one round trip, no prepared statement (so it is safe behind PgBouncer), outside any
transaction. A connection that fails it raises ``DisconnectionError`` from the pool's
``checkout`` event, which is SQLAlchemy's documented way to make the pool discard the
connection and hand out a freshly connected one instead.

Connections opened for this checkout are not pinged, and with ``idle_s > 0`` neither
are connections returned less than ``idle_s`` seconds ago (HikariCP's "alive bypass
window", ``DATABASE_POOL_PRE_PING_IDLE``, 10 s by default): on a busy service that
saves the round trip on nearly every checkout. A connection killed within that window
is found by the statement using it instead; reads are then retried once on a fresh
connection (:mod:`personal_assistant.database.reads`), writes get the error.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_

from personal_assistant.database.errors import convert_db_error
from personal_assistant.database.pool_stats import FRESH

_RETURNED_AT = "pa_returned_at"


def install_pre_ping(engine: AsyncEngine, *, idle_s: float = 0.0) -> None:
    """Ping connections at checkout (those idle at least ``idle_s`` seconds)."""

    def on_checkin(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_conn is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    def on_checkout(dbapi_conn: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        if record.info.get(FRESH):
            return
        returned = record.info.get(_RETURNED_AT)
        if idle_s > 0 and returned is not None and time.monotonic() - returned < idle_s:
            return
        try:
            await_(dbapi_conn.driver_connection.execute("SELECT 1"))
        except Exception as exc:
            # Classified, not wrapped: no context manager on the checkout path. Any
            # driver or socket error means this connection cannot be used.
            if convert_db_error(exc, "pinging a pooled connection") is None:
                raise
            raise DisconnectionError(f"pre-ping failed: {type(exc).__name__}") from exc

    # Registered before the statistics listeners, so a failed ping is not counted
    # as a checkout (the pool retries the checkout with a new connection).
    event.listen(engine.sync_engine, "checkin", on_checkin)
    event.listen(engine.sync_engine, "checkout", on_checkout)
