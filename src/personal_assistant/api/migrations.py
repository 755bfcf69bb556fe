"""``GET /health/database/migrations``: applied version, pending migrations, problems.

Token-protected like the other detailed endpoints and answers in the health+json
format: ``warn`` while migrations are pending or a file and its tracking row disagree,
``fail`` (503) with a readable reason when the status cannot be read, e.g. while the
database is down. Its reads are tagged as the monitoring's own (the dashboard polls it).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from personal_assistant.api.deps import HealthTokenDep, RuntimeDep
from personal_assistant.api.responses import HealthResponse, health_json
from personal_assistant.api.schemas import TOKEN_ERRORS, MigrationsBody, health_responses
from personal_assistant.database import session as db
from personal_assistant.database.errors import (
    DatabaseError,
    wrap_db_errors,
)
from personal_assistant.database.migrations.errors import MigrationError
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.database.migrations.plan import MigrationStatus, State
from personal_assistant.monitoring import db_probe
from personal_assistant.monitoring.health import Check, HealthReport, Status
from personal_assistant.monitoring.own_statements import tagged_engine

_PROBLEMS = (State.MISSING, State.CHANGED, State.FAILED)

router = APIRouter(tags=["health"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def migration_report(status: MigrationStatus) -> HealthReport:
    """The body of ``/health/database/migrations`` for one status (pure)."""
    pending = [
        {"version": f.version, "file_name": f.file_name, "description": f.description}
        for f in status.pending
    ]
    problems = [
        {"version": e.version, "file_name": e.file_name, "state": str(e.state)}
        for e in status.having(*_PROBLEMS)
    ]
    applied = status.applied
    last = max(applied, key=lambda r: r.version, default=None)
    details = {
        "current_version": status.current_version,
        "applied_count": len(applied),
        "last_applied": None
        if last is None
        else {
            "version": last.version,
            "file_name": last.file_name,
            "description": last.description,
            "applied_at": _iso(last.applied_at),
            "execution_ms": last.execution_ms,
        },
        "last_applied_at": _iso(max((r.applied_at for r in applied if r.applied_at), default=None)),
        "pending": pending,
        "problems": problems,
    }
    names = ", ".join(f.file_name for f in status.pending)
    broken = ", ".join(f"{e.file_name} ({e.state})" for e in status.having(*_PROBLEMS))
    checks = (
        Check(
            "migrations", "pending", Status.WARN if pending else Status.PASS, "component",
            len(pending), "migrations", output=f"pending migrations: {names}" if pending else None,
        ),
        Check(
            "migrations", "integrity", Status.WARN if problems else Status.PASS, "component",
            len(problems), "problems", output=f"needs attention: {broken}" if problems else None,
        ),
    )  # fmt: skip
    return HealthReport(checks, "migrations", details)


def _unavailable(reason: str) -> HealthReport:
    check = Check("migrations", "status", Status.FAIL, "component", output=reason)
    return HealthReport((check,), "migrations")


def _reason(exc: DatabaseError | MigrationError, timeout_s: float) -> str:
    """Readable and safe to show: no URL, host, port or password (see ``db_probe``)."""
    if isinstance(exc, MigrationError):
        return str(exc)
    return db_probe.describe(_root_cause(exc), timeout_s)


def _root_cause(exc: BaseException) -> BaseException:
    """The driver's or the OS's own error under the wrappers (SQLAlchemy, ours).

    Wrapper messages may name the server (ours does, masked); the innermost error says
    what happened (``Connection refused``) and ``describe`` renders it without an address.
    """
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "original", None) or getattr(exc, "orig", None) or exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


@router.get(
    "/health/database/migrations",
    dependencies=[HealthTokenDep],
    summary="Applied version, pending migrations and the last applied time",
    response_class=HealthResponse,
    responses={**health_responses(MigrationsBody), **TOKEN_ERRORS},
)
async def migrations_health(runtime: RuntimeDep) -> JSONResponse:
    timeout_s = runtime.settings.health_db_timeout
    try:
        with wrap_db_errors("reading the migration status"):
            async with asyncio.timeout(timeout_s):
                status = await MigrationManager(tagged_engine(db.get_engine())).status()
    except (DatabaseError, MigrationError) as exc:
        report = _unavailable(_reason(exc, timeout_s))
    else:
        report = migration_report(status)
    return health_json(report)
