"""Health evaluation, pure: figures in, checks and a response body out.

The body follows the IETF draft "Health Check Response Format for HTTP APIs"
(``application/health+json``): a top-level ``status`` of ``pass``, ``warn`` or
``fail`` and ``checks`` keyed ``component:measurement``, each a list of objects with
``componentType``, ``observedValue``, ``observedUnit``, ``status``, ``time`` and, when
not passing, a readable ``output``. ``pass`` and ``warn`` answer 200, ``fail`` 503: a
warning is for humans and dashboards, not a reason for an orchestrator to act.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from personal_assistant.database.pool_stats import PoolStats

MEDIA_TYPE = "application/health+json"


class Status(StrEnum):
    """A check's verdict, ordered from best to worst."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses`` (``pass`` when there are none)."""
    return max(statuses, key=_RANK.__getitem__, default=Status.PASS)


def above(value: float, warn: float | None = None, fail: float | None = None) -> Status:
    """``fail`` above ``fail``, ``warn`` above ``warn``, otherwise ``pass``."""
    if fail is not None and value > fail:
        return Status.FAIL
    if warn is not None and value > warn:
        return Status.WARN
    return Status.PASS


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Check:
    """One measurement of one component, rendered as one entry of ``checks``."""

    component: str
    measurement: str
    status: Status
    component_type: str = "component"
    observed_value: Any = None
    observed_unit: str | None = None
    output: str | None = None
    time: str = field(default_factory=now_iso)

    @property
    def key(self) -> str:
        return f"{self.component}:{self.measurement}"

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"componentType": self.component_type, "status": str(self.status)}
        if self.observed_value is not None:
            body["observedValue"] = self.observed_value
        if self.observed_unit is not None:
            body["observedUnit"] = self.observed_unit
        body["time"] = self.time
        if self.output:
            body["output"] = self.output
        return body


@dataclass(frozen=True)
class HealthReport:
    """Checks plus extra top-level fields (``details``); knows its status and HTTP code."""

    checks: tuple[Check, ...]
    description: str
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return worst(c.status for c in self.checks)

    @property
    def http_status(self) -> int:
        return 503 if self.status is Status.FAIL else 200

    def body(self) -> dict[str, Any]:
        checks: dict[str, list[dict[str, Any]]] = {}
        for check in self.checks:
            checks.setdefault(check.key, []).append(check.as_dict())
        body: dict[str, Any] = {"status": str(self.status), "description": self.description}
        failing = [f"{c.key}: {c.output}" for c in self.checks if c.status is not Status.PASS]
        if failing:
            body["output"] = "; ".join(failing)
        body["checks"] = checks
        body.update(self.details)
        return body


# -- the database round trip ------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """What one successful round trip to the server learned."""

    response_ms: float
    server_version: str
    database: str
    connections: int
    max_connections: int


@dataclass(frozen=True)
class ProbeFailure:
    """Why the round trip failed; ``reason`` is safe to show (no URL, no password)."""

    reason: str
    elapsed_ms: float


@dataclass(frozen=True)
class DatabaseThresholds:
    slow_ms: float = 500.0
    connections_warn: float = 0.8
    connections_fail: float = 0.95


def database_checks(
    probe: ProbeResult | ProbeFailure, limits: DatabaseThresholds
) -> tuple[Check, ...]:
    """Checks for ``/health/database``: response time and server connection usage."""
    if isinstance(probe, ProbeFailure):
        return (
            Check(
                "postgresql",
                "responseTime",
                Status.FAIL,
                "datastore",
                round(probe.elapsed_ms, 1),
                "ms",
                output=probe.reason,
            ),
        )
    rt_status = above(probe.response_ms, warn=limits.slow_ms)
    usage = probe.connections / probe.max_connections if probe.max_connections else 0.0
    conn_status = above(usage, warn=limits.connections_warn, fail=limits.connections_fail)
    return (
        Check(
            "postgresql",
            "responseTime",
            rt_status,
            "datastore",
            round(probe.response_ms, 1),
            "ms",
            output=f"round trip took more than {limits.slow_ms:g} ms"
            if rt_status is not Status.PASS
            else None,
        ),
        Check(
            "postgresql",
            "connections",
            conn_status,
            "datastore",
            probe.connections,
            "connections",
            output=(
                f"{probe.connections} of max_connections={probe.max_connections} in use"
                if conn_status is not Status.PASS
                else None
            ),
        ),
    )


# -- the pool ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolThresholds:
    warn_utilization: float = 0.8
    warn_wait_ratio: float = 0.1
    warn_wait_p95_ms: float = 100.0


def pool_checks(stats: PoolStats, limits: PoolThresholds) -> tuple[Check, ...]:
    """Checks for ``/health/database/pool``.

    Any checkout timeout in the last minute fails: a request already got a 503 for
    lack of a connection. High utilization or frequent waits only warn.
    """
    util = stats.utilization
    timeouts = stats.timeouts_last_minute
    wait_ratio = stats.wait_ratio
    wait_p95 = stats.checkout_wait.summary().p95
    util_status = above(util, warn=limits.warn_utilization)
    ratio_status = above(wait_ratio, warn=limits.warn_wait_ratio)
    p95_status = above(wait_p95, warn=limits.warn_wait_p95_ms)
    timeout_status = Status.FAIL if timeouts > 0 else Status.PASS
    return (
        Check(
            "pool",
            "utilization",
            util_status,
            "component",
            util,
            "ratio",
            output=f"{util:.0%} of the pool checked out"
            if util_status is not Status.PASS
            else None,
        ),
        Check(
            "pool",
            "timeouts",
            timeout_status,
            "component",
            timeouts,
            "per minute",
            output=(f"{timeouts} checkout(s) timed out in the last minute" if timeouts else None),
        ),
        Check(
            "pool",
            "waitRatio",
            ratio_status,
            "component",
            wait_ratio,
            "ratio",
            output=f"{wait_ratio:.0%} of checkouts had to wait"
            if ratio_status is not Status.PASS
            else None,
        ),
        Check(
            "pool",
            "waitTime",
            p95_status,
            "component",
            wait_p95,
            "ms (p95)",
            output=f"checkout wait p95 is {wait_p95:g} ms"
            if p95_status is not Status.PASS
            else None,
        ),
    )


def pool_efficiency(stats: PoolStats) -> dict[str, Any]:
    """Reuse ratio and the wait-based view: how often, and how long, checkouts waited."""
    return {
        "reuse_ratio": stats.reuse_ratio,
        "wait_ratio": stats.wait_ratio,
        "checkout_wait_p95_ms": stats.checkout_wait.summary().p95,
        "no_wait_ratio": round(1.0 - stats.wait_ratio, 4),
    }
