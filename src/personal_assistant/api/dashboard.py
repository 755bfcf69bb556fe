"""The dashboard router: the page and its static files.

``GET /dashboard`` serves a static page (:mod:`personal_assistant.dashboard`'s
``static/``) that reads the JSON health endpoints from the browser every few seconds;
nothing is rendered on the server and no build step is needed. ``GET
/dashboard/config`` tells the page whether the detailed endpoints want a token (so it
asks once instead of collecting 401s).

The router's lifespan starts the demo traffic
(:mod:`personal_assistant.service.demo_traffic`) when ``PA_DEMO_DATA=true``; FastAPI
nests it inside the app's lifespan, after the engine is up and the demo data are
loaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse

import personal_assistant.dashboard
from personal_assistant.api.deps import SecuritySettingsDep
from personal_assistant.api.responses import no_store_json
from personal_assistant.api.schemas import DashboardConfig
from personal_assistant.service import demo_traffic
from personal_assistant.service.settings import ServiceSettings, get_service_settings

STATIC_DIR = Path(personal_assistant.dashboard.__file__).parent / "static"
#: The only files ``/dashboard/static/{name}`` serves, with their media types.
STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
#: The page and its files change only with a deployment, but must never be stale.
_REVALIDATE = {"Cache-Control": "no-cache"}


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Demo traffic while the app runs, when asked for (``app.state`` overrides the env)."""
    settings: ServiceSettings | None = getattr(app.state, "service_settings", None)
    async with demo_traffic.running(settings or get_service_settings()):
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


@router.get(
    "/dashboard/config",
    summary="What the dashboard page needs to know to start",
    responses={200: {"model": DashboardConfig}},
)
async def dashboard_config(security: SecuritySettingsDep) -> JSONResponse:
    return no_store_json({"token_required": security.health_token is not None})
