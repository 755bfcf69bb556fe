"""Errors raised by the database layer.

The tree (under :class:`personal_assistant.errors.PersonalAssistantError`)::

    DatabaseError                  root: catch this to handle any database-layer failure
    ├── EngineNotInitializedError  a session was asked for before ``init_engine()``
    ├── DatabaseUnavailableError   the server could not be reached after all retries
    ├── PoolExhaustedError         no connection became free within ``pool_timeout``
    └── EmbeddedServerError        the embedded PostgreSQL could not be started

``ConfigurationError`` (a setting is invalid) is shared by every area: it lives in
:mod:`personal_assistant.errors` and is re-exported here.

Driver errors are converted once, at the boundary where they are raised, with
``raise ... from`` so the original stays in the traceback. Messages never contain
passwords: URLs are always rendered masked.
"""

from __future__ import annotations

from personal_assistant.errors import ConfigurationError, PersonalAssistantError

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "EmbeddedServerError",
    "EngineNotInitializedError",
    "PoolExhaustedError",
]

_MODULE = "personal_assistant.database.errors"


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

    def __init__(self, masked_url: str, attempts: int, reason: str) -> None:
        self.masked_url = masked_url
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"could not connect to {masked_url} after {attempts} attempt(s): {reason}")


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
