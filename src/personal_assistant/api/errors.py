"""Exception handlers: database outages answer 503 with ``Retry-After``, never a 500 or a hang."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from personal_assistant.database.errors import DatabaseUnavailableError, PoolExhaustedError

#: query_canceled (statement_timeout) and lock_not_available (lock_timeout).
TRANSIENT_SQLSTATES = ("57014", "55P03")


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "database connection pool exhausted; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "database unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _transient(request: Request, exc: Exception) -> JSONResponse:
    # A connection lost under a statement (restart, terminated backend) or a
    # statement/lock timeout is transient; any other driver error is a bug:
    # re-raised, so it is logged and answered with 500.
    assert isinstance(exc, DBAPIError)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if not (exc.connection_invalidated or sqlstate in TRANSIENT_SQLSTATES):
        raise exc
    return JSONResponse(
        {"detail": "database unavailable or too slow; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(PoolExhaustedError, _pool_exhausted)
    app.add_exception_handler(DatabaseUnavailableError, _unavailable)
    app.add_exception_handler(DBAPIError, _transient)
