"""Errors raised by the monitoring area, and the one place redis errors are converted.

The tree::

    PersonalAssistantError             (personal_assistant.errors)
    └── MonitoringError                root: any monitoring failure
        └── RedisUnavailableError      Redis failed, or is skipped after a recent failure

Redis errors (the client's own, sockets, timeouts) are converted once, by
:func:`wrap_redis_errors` around each call in :mod:`.redis_publish`; callers catch
``MonitoringError`` and fall back to this process's figures. Database failures met
while monitoring stay in the database tree (``wrap_db_errors()``);
:func:`failure_reason` names either kind in a health body the way it always has:
"timed out", or the class of the library error underneath.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from personal_assistant.database.errors import DatabaseTimeoutError
from personal_assistant.errors import PersonalAssistantError

__all__ = [
    "MonitoringError",
    "RedisUnavailableError",
    "failure_reason",
    "wrap_redis_errors",
]

_MODULE = "personal_assistant.monitoring.errors"


class MonitoringError(PersonalAssistantError):
    """Root of every error raised by the monitoring area."""

    __module__ = _MODULE


class RedisUnavailableError(MonitoringError):
    """Raised when a Redis call fails, or is skipped because Redis failed moments ago."""

    __module__ = _MODULE

    def __init__(self, operation: str, original: Exception | None = None) -> None:
        self.operation = operation
        self.original = original
        what = (
            f"it failed ({type(original).__name__})"
            if original is not None
            else "it failed moments ago and is left alone for a few seconds"
        )
        super().__init__(
            f"redis unavailable while {operation}: {what}; check that Redis is running "
            "and that REDIS_URL points at it"
        )


@contextmanager
def wrap_redis_errors(operation: str) -> Iterator[None]:
    """Convert what a Redis call raises into :class:`RedisUnavailableError`, ``from`` it.

    What a call can raise: the client's own errors, sockets, our own timeout (never
    cancellation, which passes untouched).
    """
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise RedisUnavailableError(operation, exc) from exc


def failure_reason(exc: PersonalAssistantError) -> str:
    """``"timed out"``, or the class name of the library error under ``exc`` (else its own)."""
    if isinstance(exc, DatabaseTimeoutError):
        return "timed out"
    return type(exc.original or exc).__name__
