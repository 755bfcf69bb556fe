"""The one way the health endpoints answer: ``application/health+json``, never cached."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from personal_assistant.monitoring.health import MEDIA_TYPE, HealthReport

#: Health figures are live: a cache or proxy must never answer for the app.
NO_STORE = {"Cache-Control": "no-store"}


class HealthResponse(JSONResponse):
    """Documents the bodies' real media type in the OpenAPI schema."""

    media_type = MEDIA_TYPE


def health_json(report: HealthReport) -> JSONResponse:
    """``report`` as its body and status code (pass/warn 200, fail 503), not cached."""
    return JSONResponse(
        report.body(), status_code=report.http_status, media_type=MEDIA_TYPE, headers=NO_STORE
    )


def no_store_json(body: Any, status_code: int = 200) -> JSONResponse:
    """A plain JSON body that no cache may keep."""
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)
