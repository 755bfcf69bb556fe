"""Health evaluation (pure): statuses, thresholds and the IETF body."""

from __future__ import annotations

from dataclasses import replace

import pytest

from personal_assistant.database.latency import LatencySketch
from personal_assistant.database.pool_stats import PoolStats, merge_pool_stats
from personal_assistant.monitoring.health import (
    Check,
    DatabaseThresholds,
    HealthReport,
    PoolThresholds,
    ProbeFailure,
    ProbeResult,
    Status,
    database_checks,
    pool_checks,
    pool_efficiency,
    worst,
)


def pool_stats(
    checked_out: int = 20, waited: int = 0, timeouts_last_minute: int = 0, wait_ms: float = 0.2
) -> PoolStats:
    """A pool of capacity 100 after 100 checkouts, 90 of them reused."""
    wait = LatencySketch()
    for _ in range(10):
        wait.add(wait_ms)
    return replace(
        merge_pool_stats([]),  # every count zero, every sketch empty
        pool_size=50,
        max_overflow=50,
        checked_out=checked_out,
        total_checkouts=100,
        reused_checkouts=90,
        waited_checkouts=waited,
        timeouts_last_minute=timeouts_last_minute,
        checkout_wait=wait,
    )


def statuses(checks: tuple[Check, ...]) -> dict[str, Status]:
    return {c.key: c.status for c in checks}


def test_worst_status_wins() -> None:
    assert worst([Status.PASS, Status.FAIL, Status.WARN]) is Status.FAIL
    assert worst([Status.PASS, Status.WARN]) is Status.WARN
    assert worst([]) is Status.PASS


def test_warn_answers_200_and_fail_answers_503() -> None:
    warn = HealthReport((Check("a", "b", Status.WARN, output="meh"),), "x")
    fail = HealthReport((Check("a", "b", Status.FAIL, output="down"),), "x")
    assert (warn.status, warn.http_status) == (Status.WARN, 200)
    assert (fail.status, fail.http_status) == (Status.FAIL, 503)


def test_body_follows_the_ietf_draft() -> None:
    check = Check("postgresql", "responseTime", Status.FAIL, "datastore", 12.5, "ms", "slow")
    body = HealthReport((check,), "database", {"extra": 1}).body()
    assert body["status"] == "fail"
    assert body["output"] == "postgresql:responseTime: slow"
    entry = body["checks"]["postgresql:responseTime"][0]
    assert entry["componentType"] == "datastore"
    assert (entry["observedValue"], entry["observedUnit"]) == (12.5, "ms")
    assert entry["output"] == "slow" and entry["time"].endswith("Z")
    assert body["extra"] == 1


def test_passing_checks_carry_no_output() -> None:
    body = HealthReport((Check("a", "b", Status.PASS, observed_value=1),), "x").body()
    assert "output" not in body and "output" not in body["checks"]["a:b"][0]


def test_quiet_pool_passes() -> None:
    assert set(statuses(pool_checks(pool_stats(), PoolThresholds())).values()) == {Status.PASS}


def test_high_utilization_warns() -> None:
    checks = statuses(pool_checks(pool_stats(checked_out=85), PoolThresholds()))
    assert checks["pool:utilization"] is Status.WARN


def test_a_timeout_in_the_last_minute_fails() -> None:
    checks = pool_checks(pool_stats(timeouts_last_minute=1), PoolThresholds())
    report = HealthReport(checks, "pool")
    assert statuses(checks)["pool:timeouts"] is Status.FAIL
    assert report.http_status == 503


def test_frequent_or_long_waits_warn() -> None:
    checks = statuses(pool_checks(pool_stats(waited=30, wait_ms=250.0), PoolThresholds()))
    assert checks["pool:waitRatio"] is Status.WARN
    assert checks["pool:waitTime"] is Status.WARN


def test_efficiency_reports_wait_share_and_p95() -> None:
    eff = pool_efficiency(pool_stats(waited=25))
    assert eff == {
        "reuse_ratio": 0.9,
        "wait_ratio": 0.25,
        "checkout_wait_p95_ms": pytest.approx(0.2, rel=0.01),
        "no_wait_ratio": 0.75,
    }


def test_failed_probe_fails_with_its_reason() -> None:
    checks = database_checks(ProbeFailure("no answer within 2 s", 2001.0), DatabaseThresholds())
    assert checks[0].status is Status.FAIL
    assert checks[0].output == "no answer within 2 s"


def test_slow_round_trip_warns_and_near_max_connections_fails() -> None:
    probe = ProbeResult(600.0, "16.2", "app", connections=96, max_connections=100)
    checks = statuses(database_checks(probe, DatabaseThresholds()))
    assert checks["postgresql:responseTime"] is Status.WARN
    assert checks["postgresql:connections"] is Status.FAIL
