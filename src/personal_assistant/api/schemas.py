"""Response models: what each endpoint answers, as ``openapi.json`` documents it.

The routes build their bodies from the areas' typed results and answer with
``JSONResponse`` (health+json, ``no-store``); these models are attached to the routes
with ``responses=`` so the schema says what a client gets, and the contract tests
(schemathesis with response-schema conformance) hold the bodies to it. Top-level
fields are typed and required where every answer has them; nested figures that grow
with the areas (per-statement rows, optimizer findings) are objects whose known keys
are listed and whose additional keys are allowed, so adding a figure is not a
breaking change but renaming or dropping a documented one fails the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HealthStatus = Literal["pass", "warn", "fail"]


class _Open(BaseModel):
    """An object whose documented keys are typed and whose other keys are allowed."""

    model_config = ConfigDict(extra="allow")


class CheckResult(BaseModel):
    """One entry of ``checks`` (IETF health+json draft)."""

    model_config = ConfigDict(extra="forbid")

    componentType: str
    status: HealthStatus
    observedValue: Any = None
    observedUnit: str | None = None
    time: str = Field(description="ISO 8601 time of the measurement")
    output: str | None = Field(default=None, description="why the status is not pass")


class HealthBody(_Open):
    """The health+json envelope every health endpoint answers with."""

    status: HealthStatus
    description: str
    output: str | None = Field(default=None, description="the failing checks, joined")
    checks: dict[str, list[CheckResult]] = Field(description="keyed component:measurement")


class LivenessBody(HealthBody):
    """``/health``: the process answers."""


class ReadinessBody(HealthBody):
    """``/health/ready``: start-up done, database reachable, no pending migration."""


class DatabaseFigures(_Open):
    """The probe's figures; name, version and connection counts need read access."""

    response_time_ms: float
    name: str | None = None
    server_version: str | None = None
    connections: int | None = None
    max_connections: int | None = None


class DatabaseBody(HealthBody):
    """``/health/database``: one bounded round trip and what it saw."""

    timeout_s: float
    database: DatabaseFigures | None = Field(default=None, description="absent on failure")
    replicas: list[dict[str, Any]] | None = None
    sessions: dict[str, Any] | None = Field(
        default=None, description="blocked and long-running sessions"
    )
    primary: dict[str, Any] | None = Field(default=None, description="the writable host now")


class Aggregation(_Open):
    """Whether the figures cover this process or every worker (through Redis)."""

    scope: Literal["process", "service"]
    workers: int
    warning: str | None = None


class PoolBody(HealthBody):
    """``/health/database/pool``: the connection pool's figures, whole service."""

    pool: dict[str, Any]
    efficiency: dict[str, Any]
    aggregation: Aggregation
    workers: list[dict[str, Any]]
    replicas: list[dict[str, Any]] | None = None
    pgbouncer: dict[str, Any] | None = None


class PerformanceBody(HealthBody):
    """``/health/database/performance``: latency by statement, baseline, alerts."""

    window_s: float | None
    slow_query_ms: float | None
    overall: dict[str, Any]
    slow_query_count: int
    slowest_statements: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    recent_slow_queries: list[dict[str, Any]]
    baseline: dict[str, Any]
    alerts: list[dict[str, Any]]
    server: dict[str, Any]
    aggregation: Aggregation


class MigrationsBody(HealthBody):
    """``/health/database/migrations``: applied version, pending files, problems."""

    current_version: int | None = None
    applied_count: int | None = None
    last_applied: dict[str, Any] | None = None
    last_applied_at: str | None = None
    pending: list[dict[str, Any]] | None = None
    problems: list[dict[str, Any]] | None = None


class OptimizationReportBody(_Open):
    """``/health/database/optimization``: the optimizer's report."""

    generated_at: str
    recommendations: list[dict[str, Any]]
    unavailable: list[Any]
    notes: list[Any]
    statements: list[dict[str, Any]]


class BaselineRecorded(_Open):
    """``POST /health/database/performance/baseline``: what was stored."""

    recorded: int
    baseline: list[dict[str, Any]]
    aggregation: Aggregation


class DashboardConfig(BaseModel):
    """``/dashboard/config``: what the page needs to know to start."""

    token_required: bool


class ErrorDetail(BaseModel):
    """An error the client can act on (401, 403, 503 outside health+json)."""

    detail: str


def error_response(description: str) -> dict[str, Any]:
    """An ``ErrorDetail`` answer as plain ``application/json`` (FastAPI's error bodies)."""
    schema = ErrorDetail.model_json_schema()
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: The error answers every token-protected route documents.
TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_response("HEALTH_TOKEN required (or a local client)"),
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **TOKEN_ERRORS,
    403: error_response("no HEALTH_TOKEN configured: writes refused"),
    503: error_response("the database could not store it"),
}


def health_responses(model: type[HealthBody]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a health route: the same body at 200 (pass/warn) and 503 (fail)."""
    return {
        200: {"model": model, "description": "pass or warn"},
        503: {"model": model, "description": "fail"},
    }
