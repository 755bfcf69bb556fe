"""Errors raised by the optimizer, and the one place database failures become them.

The tree::

    PersonalAssistantError             (personal_assistant.errors)
    └── OptimizerError                 root: any optimizer failure
        ├── UnsafeRecommendationError  apply() was asked to run a kind it never runs
        ├── ApplyError                 a recommendation's SQL failed on the server
        └── OptimizerDatabaseError     the server went away, or a statement was cancelled
                                       or refused, in the middle of a step

Analysis itself does not raise for missing extensions, privileges or replicas: those
are listed in the report's ``unavailable`` entries instead. What does raise (the
server stopping, ``statement_timeout``, a cancelled backend) is converted once, by
:func:`database_step`, into one :class:`OptimizerDatabaseError` that says which step
failed and what to check; the CLI prints it and exits 1, the HTTP endpoint answers 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from personal_assistant.database.errors import (
    ConnectionLostError,
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    PoolExhaustedError,
    wrap_db_errors,
)
from personal_assistant.errors import PersonalAssistantError

__all__ = [
    "ApplyError",
    "OptimizerDatabaseError",
    "OptimizerError",
    "UnsafeRecommendationError",
    "database_step",
]

_MODULE = "personal_assistant.optimizer.errors"

#: SQLSTATEs of a cancelled statement (statement_timeout, pg_cancel_backend) and of a
#: lock wait given up (lock_timeout).
_CANCELLED = {"57014": "cancelled", "55P03": "gave up waiting for a lock"}


class OptimizerError(PersonalAssistantError):
    """Root of every error raised by the optimizer."""

    __module__ = _MODULE


class UnsafeRecommendationError(OptimizerError):
    """Raised when asked to apply a kind outside ``SAFE_KINDS`` (drops, rewrites)."""

    __module__ = _MODULE

    def __init__(self, kind: str) -> None:
        from personal_assistant.optimizer.models import SAFE_KINDS

        self.kind = kind
        allowed = ", ".join(sorted(k.value for k in SAFE_KINDS))
        super().__init__(
            f"recommendations of kind {kind!r} are never applied automatically; "
            f"run their SQL by hand after review (applicable kinds: {allowed})"
        )


class ApplyError(OptimizerError):
    """Raised when a recommendation's SQL fails; earlier ones stay applied."""

    __module__ = _MODULE

    def __init__(self, sql: str, reason: str) -> None:
        self.sql = sql
        self.reason = reason
        super().__init__(f"applying {sql!r} failed: {reason}")


class OptimizerDatabaseError(OptimizerError):
    """Raised when the server goes away or cancels or refuses a statement mid-step."""

    __module__ = _MODULE

    def __init__(self, step: str, cause: DatabaseError) -> None:
        self.step = step
        self.cause = cause
        self.original = cause
        self.sqlstate = getattr(cause, "sqlstate", None)
        #: True when re-running later may succeed (lost connection, cancellation).
        self.retryable = (
            isinstance(cause, DatabaseUnavailableError | PoolExhaustedError)
            or self.sqlstate in _CANCELLED
        )
        super().__init__(f"the optimizer stopped while {step}: {self._what()}")

    def _what(self) -> str:
        cause = self.cause
        if isinstance(cause, DatabaseTimeoutError):
            return (
                "the database did not answer in time; check that PostgreSQL is up and "
                "not overloaded"
            )
        if isinstance(cause, ConnectionLostError):
            return (
                f"the connection to PostgreSQL was lost ({_driver_error(cause)}); check "
                "that the server is running and reachable (a restart or shutdown stops "
                "the analysis), then run it again"
            )
        if isinstance(cause, DatabaseUnavailableError | PoolExhaustedError):
            return str(cause)
        if self.sqlstate in _CANCELLED:
            return (
                f"a statement was {_CANCELLED[self.sqlstate]} (SQLSTATE {self.sqlstate}): "
                "statement_timeout (OPTIMIZER_STATEMENT_TIMEOUT_MS), lock_timeout, or "
                "pg_cancel_backend(); check for long locks (e.g. a migration holding ACCESS "
                "EXCLUSIVE) and raise the limit or run it again when the server is quieter"
            )
        if self.sqlstate == "42501":
            return (
                "a statement was refused for lack of privileges (SQLSTATE 42501); see "
                "'Privileges' in docs/performance-optimization.md for the grants"
            )
        code = f"SQLSTATE {self.sqlstate}, " if self.sqlstate else ""
        return (
            f"a statement failed ({code}{type(cause.original or cause).__name__}); "
            "the PostgreSQL log has the statement and the full error"
        )


def _driver_error(cause: DatabaseError) -> str:
    """The innermost driver error: its class, SQLSTATE and first line."""
    exc: BaseException | None = cause.original
    while exc is not None:
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None or inner is exc:
            break
        exc = inner
    if exc is None:
        return type(cause).__name__
    code = getattr(exc, "sqlstate", None)
    first = str(exc).splitlines()[0] if str(exc) else ""
    parts = [
        type(exc).__name__,
        *([f"SQLSTATE {code}"] if code else []),
        *([first] if first else []),
    ]
    return ", ".join(parts)


@contextmanager
def database_step(step: str) -> Iterator[None]:
    """Convert any database failure inside into one :class:`OptimizerDatabaseError`.

    ``step`` says what was being done ("reading the catalogs"); the original driver
    error stays chained (``from``) and in ``original.original``.
    """
    try:
        with wrap_db_errors(step):
            yield
    except DatabaseError as exc:
        raise OptimizerDatabaseError(step, exc) from exc
