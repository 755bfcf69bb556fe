"""The health router: liveness, readiness, database, pool, performance and metrics.

Bodies follow the IETF draft "Health Check Response Format for HTTP APIs"
(``application/health+json``; see :mod:`personal_assistant.monitoring.health`): ``pass``
and ``warn`` answer 200, ``fail`` 503, so Docker, Kubernetes and load balancers can act
on the status code alone. ``/health`` touches nothing outside the process;
``/health/ready`` and ``/health/database`` open their own short-lived connection with a
hard timeout, so they answer even when every pooled connection is busy. The detailed
endpoints (pool, performance, baseline, metrics) require ``Authorization: Bearer
<HEALTH_TOKEN>`` when that variable is set. No body contains a URL, a password or a
statement parameter: statements appear only in their normalized form.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from personal_assistant.api.deps import (
    HealthTokenDep,
    PendingDep,
    ReadAccessDep,
    RuntimeDep,
    StartupDep,
    WriteTokenDep,
)
from personal_assistant.api.responses import NO_STORE, HealthResponse, health_json
from personal_assistant.api.schemas import (
    TOKEN_ERRORS,
    WRITE_ERRORS,
    BaselineRecorded,
    DatabaseBody,
    LivenessBody,
    PerformanceBody,
    PoolBody,
    ReadinessBody,
    health_responses,
)
from personal_assistant.api.security import warn_when_open
from personal_assistant.api.settings import get_security_settings
from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.failover import confirm_primary, tracker_for
from personal_assistant.database.migrations.errors import MigrationError
from personal_assistant.database.pool_stats import merge_pool_stats
from personal_assistant.monitoring import (
    aggregate,
    alerts,
    baseline,
    db_probe,
    loop_lag,
    scaling,
    server_stats,
    sessions,
)
from personal_assistant.monitoring.budget import Deadline
from personal_assistant.monitoring.errors import failure_reason
from personal_assistant.monitoring.health import (
    Check,
    DatabaseThresholds,
    HealthReport,
    PoolThresholds,
    ProbeFailure,
    Status,
    database_checks,
    pool_checks,
    pool_efficiency,
)
from personal_assistant.monitoring.metrics import Figures, render
from personal_assistant.monitoring.own_statements import tagged_engine
from personal_assistant.monitoring.readiness import PendingCheck
from personal_assistant.monitoring.runtime import Gathered, MonitoringRuntime
from personal_assistant.monitoring.settings import MonitoringSettings, get_monitoring_settings


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Runs inside the app's lifespan, after the engine is up (FastAPI nests it)."""
    warn_when_open(get_security_settings())  # an empty HEALTH_TOKEN stops start-up here
    settings = getattr(app.state, "monitoring_settings", None) or get_monitoring_settings()
    runtime = MonitoringRuntime.from_settings(settings, tracker=getattr(app.state, "tracker", None))
    app.state.monitoring = runtime
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


router = APIRouter(
    tags=["health"],
    lifespan=lifespan,
    default_response_class=HealthResponse,
    responses={401: {"description": "HEALTH_TOKEN required"}, 503: {"description": "failing"}},
)


@contextmanager
def _timed(runtime: MonitoringRuntime, endpoint: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        runtime.observe_health(endpoint, time.perf_counter() - started)


def _engine_down(component: str) -> Check:
    return Check(component, "engine", Status.FAIL, "datastore", output="engine not initialized")


# -- liveness and readiness ----------------------------------------------------------------
@router.get(
    "/health",
    summary="Liveness: the process answers (touches nothing else)",
    responses=health_responses(LivenessBody),
)
async def liveness(runtime: RuntimeDep) -> JSONResponse:
    uptime = round(time.monotonic() - runtime.started, 1)
    check = Check("process", "uptime", Status.PASS, "system", uptime, "s")
    return health_json(HealthReport((check,), "liveness"))


async def _migrations_check(
    runtime: MonitoringRuntime, pending_check: PendingCheck, deadline: Deadline
) -> Check:
    """Pending migrations, by ``deadline``: concurrent requests share one read."""
    if time.monotonic() < runtime.migrations_ok_until:
        return Check("migrations", "pending", Status.PASS, "component", 0, "migrations")
    try:
        return await runtime.migrations_read.join(
            lambda: _read_migrations(runtime, pending_check), deadline
        )
    except TimeoutError:
        output = db_probe.describe(TimeoutError(), deadline.budget_s)
        return Check("migrations", "pending", Status.FAIL, "component", output=output)


async def _read_migrations(runtime: MonitoringRuntime, pending_check: PendingCheck) -> Check:
    try:
        with wrap_db_errors("checking for pending migrations"):
            async with asyncio.timeout(runtime.settings.health_db_timeout):
                pending = await pending_check(tagged_engine(db.get_engine()))
    except (DatabaseError, MigrationError) as exc:
        output = failure_reason(exc)
        return Check("migrations", "pending", Status.FAIL, "component", output=output)
    if pending:
        shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
        return Check(
            "migrations", "pending", Status.FAIL, "component", len(pending), "migrations",
            output=f"pending migrations: {shown}",
        )  # fmt: skip
    runtime.migrations_ok_until = time.monotonic() + runtime.settings.health_migrations_cache_s
    return Check("migrations", "pending", Status.PASS, "component", 0, "migrations")


@router.get(
    "/health/ready",
    summary="Readiness: database reachable, no pending migrations",
    responses=health_responses(ReadinessBody),
)
async def readiness(
    runtime: RuntimeDep, pending_check: PendingDep, startup: StartupDep
) -> JSONResponse:
    deadline = Deadline.after(runtime.settings.health_db_timeout)  # the whole request's
    with _timed(runtime, "ready"):
        try:
            config = db.get_config()
        except DatabaseError:
            return health_json(HealthReport((_engine_down("postgresql"),), "readiness"))
        if startup is not None and not startup.ready:
            check = Check("service", "startup", Status.FAIL, "component", output=startup.reason)
            return health_json(HealthReport((check,), "readiness"))
        probe = await runtime.probe.get(config, deadline.budget_s, deadline)
        # After a lost primary: 503 with why, until a writable host answers again.
        if gap := await confirm_primary(db.get_engine(), deadline.remaining_s()):
            primary = Check("postgresql", "primary", Status.FAIL, "datastore", output=gap)
            return health_json(HealthReport((primary,), "readiness"))
        reach = Check("postgresql", "reachable", Status.PASS, "datastore", True)
        if isinstance(probe, ProbeFailure):
            reach = Check(
                "postgresql", "reachable", Status.FAIL, "datastore", False, output=probe.reason
            )
            return health_json(HealthReport((reach,), "readiness"))
        migrations = await _migrations_check(runtime, pending_check, deadline)
        return health_json(HealthReport((reach, migrations), "readiness"))


# -- the database --------------------------------------------------------------------------
def _database_limits(settings: MonitoringSettings) -> DatabaseThresholds:
    return DatabaseThresholds(
        slow_ms=settings.health_db_slow_ms,
        connections_warn=settings.health_connections_warn,
        connections_fail=settings.health_connections_fail,
    )


def _session_limits(settings: MonitoringSettings) -> sessions.SessionThresholds:
    return sessions.SessionThresholds(
        blocked_warn_s=settings.health_blocked_warn_s,
        blocked_fail_s=settings.health_blocked_fail_s,
        long_running_s=settings.health_long_running_s,
    )


@router.get(
    "/health/database",
    summary="A real round trip, bounded by HEALTH_DB_TIMEOUT",
    responses=health_responses(DatabaseBody),
)
async def database_health(runtime: RuntimeDep, details_allowed: ReadAccessDep) -> JSONResponse:
    """Open to all: status, round-trip time and blocked-session counts; with read access,
    the server's details and the blocked and blocking sessions too."""
    deadline = Deadline.after(runtime.settings.health_db_timeout)  # the whole request's
    with _timed(runtime, "database"):
        try:
            config = db.get_config()
        except DatabaseError:
            return health_json(HealthReport((_engine_down("postgresql"),), "database"))
        timeout_s = runtime.settings.health_db_timeout
        probe, waits = await asyncio.gather(
            runtime.probe.get(config, timeout_s, deadline),
            runtime.sessions.get(config, timeout_s, deadline),
        )
        details: dict[str, Any] = {"timeout_s": timeout_s}
        tracker = tracker_for(db.get_engine())
        if tracker is not None and details_allowed:
            details["primary"] = tracker.as_dict()  # which host, as configured: no credentials
        if not isinstance(probe, ProbeFailure):
            details["database"] = {"response_time_ms": round(probe.response_ms, 1)}
            if details_allowed:
                details["database"].update(
                    name=probe.database,
                    server_version=probe.server_version,
                    connections=probe.connections,
                    max_connections=probe.max_connections,
                )
        checks = database_checks(probe, _database_limits(runtime.settings))
        if not isinstance(probe, ProbeFailure):  # when down, responseTime says it all
            limits = _session_limits(runtime.settings)
            checks = (*checks, sessions.blocked_check(waits, limits))
            details["sessions"] = (
                sessions.details(waits, limits) if details_allowed else sessions.summary(waits)
            )
        router = db.get_replica_router()
        if router is not None:
            states = router.states()
            details["replicas"] = scaling.public_replica_states(states)
            checks = (*checks, *scaling.replica_checks(states, router.max_lag_ms))
        if not details_allowed:
            checks = tuple(_status_only(check) for check in checks)
        return health_json(HealthReport(checks, "database", details))


def _status_only(check: Check) -> Check:
    """A check without figures beyond its status (open endpoints), except round-trip times
    and blocked-session counts, whose outputs hold counts and seconds only."""
    if check.measurement in ("responseTime", "blockedSessions"):
        return check
    return dataclasses.replace(check, observed_value=None, observed_unit=None, output=None)


# -- the pool ------------------------------------------------------------------------------
def _pool_limits(settings: MonitoringSettings) -> PoolThresholds:
    return PoolThresholds(
        warn_utilization=settings.health_pool_warn_utilization,
        warn_wait_ratio=settings.health_pool_warn_wait_ratio,
        warn_wait_p95_ms=settings.health_pool_warn_wait_p95_ms,
    )


def _per_worker(gathered: Gathered) -> list[dict[str, Any]]:
    return [
        {
            "worker": worker,
            "checked_out": stats.checked_out,
            "capacity": stats.capacity,
            "timeouts_last_minute": stats.timeouts_last_minute,
        }
        for worker, stats in gathered.pools.items()
    ]


@router.get(
    "/health/database/pool",
    dependencies=[HealthTokenDep],
    summary="Pool figures",
    responses={**health_responses(PoolBody), **TOKEN_ERRORS},
)
async def pool_health(runtime: RuntimeDep) -> JSONResponse:
    with _timed(runtime, "pool"):
        gathered = await runtime.gather()
        if not gathered.pools:
            return health_json(HealthReport((_engine_down("pool"),), "pool"))
        pool = merge_pool_stats(gathered.pools.values())
        details: dict[str, Any] = {
            "pool": pool.as_dict(),
            "efficiency": pool_efficiency(pool),
            "aggregation": gathered.aggregation,
            "workers": _per_worker(gathered),
        }
        router = db.get_replica_router()
        if router is not None:
            details["replicas"] = router.states()  # this process's replica pools
        admin_url = runtime.settings.pgbouncer_admin_url
        if admin_url is not None:
            details["pgbouncer"] = await scaling.pgbouncer_figures(
                admin_url.get_secret_value(), runtime.settings.health_db_timeout
            )
        checks = pool_checks(pool, _pool_limits(runtime.settings))
        return health_json(HealthReport(checks, "connection pool", details))


# -- query performance ---------------------------------------------------------------------
def _performance_checks(
    view: dict[str, Any], active: list[dict[str, Any]], limit: float
) -> tuple[Check, ...]:
    p95 = view["overall"]["window_ms"]["p95"]
    p95_status = Status.WARN if p95 > limit else Status.PASS
    alert_status = Status.WARN if active else Status.PASS
    return (
        Check(
            "queries", "p95", p95_status, "component", p95, "ms",
            output=f"rolling p95 above {limit:g} ms" if p95_status is Status.WARN else None,
        ),
        Check(
            "queries", "alerts", alert_status, "component", len(active), "active",
            output="; ".join(a["message"] for a in active) or None,
        ),
    )  # fmt: skip


def _loop_lag_check(lag: dict[str, Any], limit: float) -> Check:
    p99 = lag["window_ms"]["p99"]
    status = Status.WARN if p99 > limit else Status.PASS
    output = f"event-loop lag p99 above {limit:g} ms: CPU-bound" if status is Status.WARN else None
    return Check("eventLoop", "lag", status, "system", p99, "ms (p99)", output=output)


@router.get(
    "/health/database/performance",
    dependencies=[HealthTokenDep],
    summary="Query latency",
    responses={**health_responses(PerformanceBody), **TOKEN_ERRORS},
)
async def performance_health(runtime: RuntimeDep) -> JSONResponse:
    with _timed(runtime, "performance"):
        await runtime.judge.settle(runtime.tracker)  # slow statements held since last round
        gathered = await runtime.gather()
        try:
            engine = db.get_engine()
        except DatabaseError:
            return health_json(HealthReport((_engine_down("queries"),), "query performance"))
        server_times = runtime.judge.server_times
        view = aggregate.performance_view(gathered.performances, server=server_times.window())
        statements = aggregate.merge_statements(gathered.performances)
        stored = await runtime.baseline()
        active = [a.as_dict() for a in runtime.check_alerts(statements, stored, gathered)]
        lag = loop_lag.lag_view(gathered.loop_lags)
        details = {
            **view,
            "loop_lag": lag,
            "server_time": server_times.status(),
            "baseline": {
                "statements": [b.as_dict() for b in stored.values()],
                "comparison": alerts.compare((s.figures() for s in statements.values()), stored),
            },
            "alerts": active,
            "server": await server_stats.server_figures(engine, runtime.settings.health_db_timeout),
            "aggregation": gathered.aggregation,
        }
        limit = runtime.settings.perf_alert_overall_p95_ms
        checks = (
            *_performance_checks(view, active, limit),
            _loop_lag_check(lag, runtime.rules.loop_lag_p99_ms),
        )
        return health_json(HealthReport(checks, "queries", details))


@router.post(
    "/health/database/performance/baseline",
    dependencies=[WriteTokenDep],
    summary="Record the current per-statement p50/p95 as the baseline",
    response_class=JSONResponse,
    responses={200: {"model": BaselineRecorded}, **WRITE_ERRORS},
)
async def record_baseline(runtime: RuntimeDep) -> JSONResponse:
    gathered = await runtime.gather()
    statements = aggregate.merge_statements(gathered.performances)
    try:
        with wrap_db_errors("recording the performance baseline"):
            async with asyncio.timeout(runtime.settings.health_db_timeout * 5):
                stored = await baseline.store_baseline(
                    db.get_engine(), statements.values(), runtime.settings.perf_alert_min_samples
                )
    except DatabaseError as exc:
        return JSONResponse({"detail": _baseline_failure(exc)}, status_code=503)
    runtime.set_baseline(stored)
    return JSONResponse(
        {
            "recorded": len(
                baseline.baseline_rows(statements.values(), runtime.settings.perf_alert_min_samples)
            ),
            "baseline": [b.as_dict() for b in stored.values()],
            "aggregation": gathered.aggregation,
        }
    )


def _baseline_failure(exc: DatabaseError) -> str:
    """Why the baseline was not stored, with what to do about a missing privilege."""
    reason = failure_reason(exc)
    driver = getattr(exc.original, "orig", None) or exc.original
    if getattr(driver, "sqlstate", None) == "42501":  # insufficient_privilege
        return (
            f"baseline not recorded: this role may not create the table {baseline.TABLE} "
            "(insufficient privilege); record it once as the schema owner, or grant "
            "CREATE on the schema, then INSERT/UPDATE/SELECT on the table"
        )
    return f"baseline not recorded: {reason}"


# -- Prometheus ----------------------------------------------------------------------------
async def _sessions_reading(runtime: MonitoringRuntime) -> sessions.SessionsReading | None:
    """The shared sessions read (``None`` before the engine is up or when it failed)."""
    try:
        config = db.get_config()
    except DatabaseError:
        return None
    result = await runtime.sessions.get(config, runtime.settings.health_db_timeout)
    return result if isinstance(result, sessions.SessionsReading) else None


@router.get(
    "/metrics",
    dependencies=[HealthTokenDep],
    summary="Prometheus exposition",
    response_class=PlainTextResponse,
)
async def metrics(runtime: RuntimeDep) -> Response:
    with _timed(runtime, "metrics"):
        gathered = await runtime.gather()
        pools = gathered.pools
        statements = aggregate.merge_statements(gathered.performances)
        figures = Figures(
            pool=merge_pool_stats(pools.values()) if pools else None,
            statements=statements,
            slow_total=sum(int(p["slow_total"]) for p in gathered.performances),
            alerts=[a.alert.as_dict() for a in runtime.book.active],
            health_durations=runtime.health_durations,
            workers=len(gathered.snapshots),
            sessions=await _sessions_reading(runtime),
            probe=_last_probe(runtime),
        )
        return Response(render(figures), media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


def _last_probe(runtime: MonitoringRuntime) -> tuple[bool, float] | None:
    """(passed, age) of the latest probe the health endpoints took; /metrics takes none."""
    last = runtime.probe.last
    return None if last is None else (not isinstance(last[0], ProbeFailure), last[1])
