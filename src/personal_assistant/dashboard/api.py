"""The dashboard router: the page, its static files, and the migration status it shows.

``GET /dashboard`` serves a static page (``static/``) that reads the JSON health
endpoints from the browser every few seconds; nothing is rendered on the server and
no build step is needed. ``GET /dashboard/config`` tells the page whether the
detailed endpoints want a token (so it asks once instead of collecting 401s).
``GET /health/database/migrations`` is token-protected like the other detailed
endpoints and answers in the health+json format: ``warn`` while migrations are
pending or a file and its tracking row disagree, ``fail`` (503) with a readable
reason when the status cannot be read, e.g. while the database is down.

The router's lifespan starts the demo traffic (:mod:`.demo_traffic`) when
``PA_DEMO_DATA=true``; FastAPI nests it inside the app's lifespan, after the engine
is up and the demo data are loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, JSONResponse

from personal_assistant.config.monitoring import HealthResponse, RuntimeDep
from personal_assistant.config.security import (
    HealthTokenDep,
    SecuritySettings,
    get_security_settings,
)
from personal_assistant.dashboard import demo_traffic
from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseUnavailableError
from personal_assistant.database.migrations.errors import MigrationError
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.database.migrations.plan import MigrationStatus, State
from personal_assistant.monitoring import db_probe, server_stats
from personal_assistant.monitoring.health import MEDIA_TYPE, Check, HealthReport, Status

STATIC_DIR = Path(__file__).parent / "static"
#: The only files ``/dashboard/static/{name}`` serves, with their media types.
STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
#: The page and its files change only with a deployment, but must never be stale.
_REVALIDATE = {"Cache-Control": "no-cache"}
_NO_STORE = {"Cache-Control": "no-store"}
_PROBLEMS = (State.MISSING, State.CHANGED, State.FAILED)
#: What reading the status may raise: the database layer's and the migration layer's.
_STATUS_ERRORS: tuple[type[Exception], ...] = (*server_stats.ERRORS, MigrationError)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Demo traffic while the app runs, when asked for (``app.state`` overrides the env)."""
    settings = getattr(app.state, "demo_traffic_settings", None)
    async with demo_traffic.running(settings or demo_traffic.DemoTrafficSettings()):
        yield


router = APIRouter(tags=["dashboard"], lifespan=lifespan)


# -- the page ------------------------------------------------------------------------------
@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_REVALIDATE)


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_static(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no dashboard file named {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_REVALIDATE)


@router.get("/dashboard/config", summary="What the dashboard page needs to know to start")
async def dashboard_config(
    security: Annotated[SecuritySettings, Depends(get_security_settings)],
) -> JSONResponse:
    return JSONResponse({"token_required": security.health_token is not None}, headers=_NO_STORE)


# -- migrations ----------------------------------------------------------------------------
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


def _reason(exc: BaseException, timeout_s: float) -> str:
    """Readable and safe to show: no URL, host, port or password (see ``db_probe``)."""
    if isinstance(exc, MigrationError):
        return str(exc)
    if isinstance(exc, DatabaseUnavailableError) and exc.__cause__ is not None:
        exc = exc.__cause__  # its own message names the server
    return db_probe.describe(exc, timeout_s)


@router.get(
    "/health/database/migrations",
    dependencies=[HealthTokenDep],
    summary="Applied version, pending migrations and the last applied time",
    response_class=HealthResponse,
    responses={401: {"description": "HEALTH_TOKEN required"}, 503: {"description": "failing"}},
)
async def migrations_health(runtime: RuntimeDep) -> JSONResponse:
    timeout_s = runtime.settings.health_db_timeout
    try:
        async with asyncio.timeout(timeout_s):
            status = await MigrationManager(db.get_engine()).status()
    except _STATUS_ERRORS as exc:
        report = _unavailable(_reason(exc, timeout_s))
    else:
        report = migration_report(status)
    return JSONResponse(
        report.body(), status_code=report.http_status, media_type=MEDIA_TYPE, headers=_NO_STORE
    )
