"""Errors raised by the database layer, and the one place driver errors are converted.

The tree (under :class:`personal_assistant.errors.PersonalAssistantError`)::

    DatabaseError                  root: catch this to handle any database-layer failure
    ├── EngineNotInitializedError  a session was asked for before ``init_engine()``
    ├── DatabaseUnavailableError   the server could not be reached after all retries
    │   └── ConnectionLostError    the connection was refused or dropped during an operation
    │       └── DatabaseTimeoutError   it stopped answering within the caller's time limit
    ├── QueryFailedError           the server (or SQLAlchemy) rejected a statement
    ├── PoolExhaustedError         no connection became free within ``pool_timeout``
    └── EmbeddedServerError        the embedded PostgreSQL could not be started

``ConfigurationError`` (a setting is invalid) is shared by every area: it lives in
:mod:`personal_assistant.errors` and is re-exported here.

Driver errors (SQLAlchemy, asyncpg, sockets, timeouts) are converted once, at a named
boundary: :func:`wrap_db_errors` around the work (``with wrap_db_errors("reading the
server figures"):``, ``await`` inside is fine), or :func:`convert_db_error` where even
entering a context manager would cost time on every checkout. The converted error is
raised ``from`` the original, which also stays in its ``original`` attribute, so a
health body can still name the driver's error class. Messages never contain passwords
or URLs: connect errors render the URL masked, converted errors name only classes.
``asyncio.CancelledError`` is never converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import InterfaceError as SAInterfaceError

from personal_assistant.errors import ConfigurationError, PersonalAssistantError

__all__ = [
    "ConfigurationError",
    "ConnectionLostError",
    "DatabaseError",
    "DatabaseTimeoutError",
    "DatabaseUnavailableError",
    "EmbeddedServerError",
    "EngineNotInitializedError",
    "PoolExhaustedError",
    "QueryFailedError",
    "convert_db_error",
    "wrap_db_errors",
]

_MODULE = "personal_assistant.database.errors"

#: SQLSTATE classes that mean the connection, not the statement, failed: connection
#: exceptions (08xxx) and the server shutting down or refusing new work (57P0x).
_LOST_SQLSTATE_PREFIXES = ("08", "57P")


class DatabaseError(PersonalAssistantError):
    """Root of every error raised by the database layer."""

    __module__ = _MODULE


class EngineNotInitializedError(DatabaseError):
    """Raised when the engine is used before ``init_engine()`` or after ``dispose_engine()``."""

    __module__ = _MODULE

    def __init__(self) -> None:
        super().__init__(
            "the database engine is not initialized: call init_engine(config) first "
            "(the FastAPI lifespan does this at start-up)"
        )


class DatabaseUnavailableError(DatabaseError):
    """Raised when a connection cannot be established after the configured retries."""

    __module__ = _MODULE

    masked_url: str | None
    #: What was being done when the server went away (``None``: connecting).
    operation: str | None = None

    def __init__(self, masked_url: str, attempts: int, reason: str) -> None:
        self.masked_url = masked_url
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"could not connect to {masked_url} after {attempts} attempt(s): {reason}")


class ConnectionLostError(DatabaseUnavailableError):
    """Raised by :func:`wrap_db_errors` when the connection is refused or drops mid-operation."""

    __module__ = _MODULE

    def __init__(self, operation: str, original: Exception) -> None:
        # Not the parent's constructor: no URL is known (or shown) at these boundaries.
        self.operation, self.original = operation, original
        self.masked_url, self.attempts, self.reason = None, 1, type(original).__name__
        DatabaseError.__init__(self, f"{operation} failed: {self._what_happened()}")

    def _what_happened(self) -> str:
        return (
            f"the connection to the database was refused or lost ({self.reason}); "
            "check that PostgreSQL is running and reachable"
        )


class DatabaseTimeoutError(ConnectionLostError):
    """Raised by :func:`wrap_db_errors` when no answer came within the caller's time limit."""

    __module__ = _MODULE

    def _what_happened(self) -> str:
        return (
            "the database did not answer within the time limit; "
            "check that PostgreSQL is up and not overloaded or waiting on locks"
        )


class QueryFailedError(DatabaseError):
    """Raised by :func:`wrap_db_errors` when the server or SQLAlchemy rejects a statement."""

    __module__ = _MODULE

    def __init__(self, operation: str, original: Exception) -> None:
        self.operation = operation
        self.original = original
        self.sqlstate: str | None = _sqlstate(original)
        code = f", SQLSTATE {self.sqlstate}" if self.sqlstate else ""
        super().__init__(
            f"{operation} failed: a statement was rejected ({type(original).__name__}{code}); "
            "the PostgreSQL log has the statement and the full error"
        )


class PoolExhaustedError(DatabaseError):
    """Raised when every pooled connection stayed busy for the whole ``pool_timeout``."""

    __module__ = _MODULE

    def __init__(self, capacity: int, timeout_s: float, checked_out: int) -> None:
        self.capacity = capacity
        self.timeout_s = timeout_s
        self.checked_out = checked_out
        super().__init__(
            f"connection pool exhausted: {checked_out} of {capacity} connections in use "
            f"and none was returned within pool_timeout={timeout_s:g}s; raise "
            "DATABASE_POOL_SIZE/DATABASE_MAX_OVERFLOW or shorten the work done per session"
        )


class EmbeddedServerError(DatabaseError):
    """Raised when the embedded PostgreSQL cannot be started."""

    __module__ = _MODULE


# -- conversion ----------------------------------------------------------------------------
def _sqlstate(exc: Exception) -> str | None:
    # asyncpg errors carry it; SQLAlchemy's wrap the adapted driver error in ``orig``.
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return str(code) if code else None


def _connection_failed(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError | SAInterfaceError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.InternalClientError):
        return True  # the protocol was left mid-operation: the connection is unusable
    return (_sqlstate(exc) or "").startswith(_LOST_SQLSTATE_PREFIXES)


def convert_db_error(exc: Exception, operation: str) -> DatabaseError | None:
    """``exc`` as an error of this tree, or ``None`` when it is not a database failure.

    An error of this tree is returned as it is; ``operation`` ("reading the server
    figures") starts the message of a converted one.
    """
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, TimeoutError):
        return DatabaseTimeoutError(operation, exc)
    driver = SQLAlchemyError | asyncpg.PostgresError | asyncpg.InternalClientError
    if not isinstance(exc, driver | OSError | asyncpg.InterfaceError):
        return None
    if _connection_failed(exc):
        return ConnectionLostError(operation, exc)
    return QueryFailedError(operation, exc)


@contextmanager
def wrap_db_errors(operation: str) -> Iterator[None]:
    """Convert driver errors raised in the block into this tree, ``from`` the original.

    Works around ``await``: ``with wrap_db_errors("loading the baseline"): await ...``.
    Put it outside any ``asyncio.timeout`` so the timeout's ``TimeoutError`` is
    converted too. Only ``Exception`` is caught, so cancellation passes untouched.
    """
    try:
        yield
    except Exception as exc:
        converted = convert_db_error(exc, operation)
        if converted is None or converted is exc:
            raise
        raise converted from exc
