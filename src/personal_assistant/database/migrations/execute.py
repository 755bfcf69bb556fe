"""Sending migration SQL through the asyncpg connection under SQLAlchemy's.

The runner's own statements (timeouts, the tracking row) go through SQLAlchemy with
bound parameters. Migration SQL goes to the driver as written: asyncpg's
``Connection.execute(sql)`` without arguments uses the simple query protocol, which
takes a whole section (many statements) in one message and one round trip. Driver
errors met here are converted once, by the callers, into ``MigrationFailedError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.errors import MigrationFailedError
from personal_assistant.database.migrations.failures import (
    LOCK_NOT_AVAILABLE,
    line_in_statement,
    reason,
)
from personal_assistant.database.migrations.lock import MESSAGE_HEAD, BlockerWatch
from personal_assistant.database.migrations.lock_retry import Blocked
from personal_assistant.database.migrations.sql_parse import Statement

#: Driver errors converted into ``MigrationFailedError``: server errors and I/O met on
#: the driver connection, and the same wrapped by SQLAlchemy for its own statements.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError, DBAPIError)

#: Opens each migration's transaction in the same message as its section: a clean
#: session (everything DISCARD ALL does, which cannot run in a transaction, except
#: DEALLOCATE ALL: the drivers cache prepared statements on the connection), the
#: local timeouts, and the worker lock that tells a waiting runner which session works
#: for the lock holder (:func:`.lock.holder`; released at COMMIT). The simple query
#: protocol has no parameters, so the four integers are formatted in with ``%d``.
BEGIN_TEMPLATE = MESSAGE_HEAD + (
    "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; "
    "SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES; "
    "SELECT set_config('lock_timeout', '%dms', true), "
    "set_config('statement_timeout', '%dms', true), "
    "pg_advisory_xact_lock_shared(%d, %d);\n"
)
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"


def begin_message(
    lock_timeout_ms: int, statement_timeout_ms: int, namespace: int, holder: int
) -> str:
    """:data:`BEGIN_TEMPLATE` for these integers (``%d`` admits nothing but digits)."""
    return BEGIN_TEMPLATE % (lock_timeout_ms, statement_timeout_ms, namespace, holder)


SET_SESSION_TIMEOUTS = text(
    "SELECT set_config('lock_timeout', :lock, false), "
    "set_config('statement_timeout', :statement, false)"
)


async def driver_of(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None, "a checked-out connection has a driver connection"
    return driver


async def backend_pid(conn: AsyncConnection) -> int:
    """The server process of ``conn`` (asyncpg knows it from the start-up handshake)."""
    return int((await driver_of(conn)).get_server_pid())


async def run_statement(driver: Any, stmt: Statement, path: str, watch: BlockerWatch) -> None:
    """One statement on its own; a lock timeout becomes :class:`.lock_retry.Blocked`."""
    try:
        await driver.execute(stmt.sql)
    except DRIVER_ERRORS as exc:
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise Blocked.at(stmt, watch.last_seen or "an unknown session") from exc
        line = line_in_statement(stmt, exc)
        raise MigrationFailedError(path, line, stmt.sql, reason(exc)) from exc


async def first_failing(
    driver: Any, statements: Sequence[Statement]
) -> tuple[Statement, asyncpg.PostgresError] | None:
    """The first of ``statements`` that raises, run one by one in the open transaction."""
    for stmt in statements:
        try:
            await driver.execute(stmt.sql)
        except asyncpg.PostgresError as exc:
            return stmt, exc
    return None
