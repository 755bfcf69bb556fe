"""Health evaluation (pure): statuses, thresholds and the IETF body."""

from __future__ import annotations

from typing import Any

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


def pool_stats(**overrides: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "utilization": 0.2,
        "timeouts_last_minute": 0,
        "wait_ratio": 0.0,
        "reuse_ratio": 0.9,
        "checkout_wait_ms": {"count": 10, "p50": 0.1, "p95": 0.2, "p99": 0.3, "max": 0.4},
    }
    stats.update(overrides)
    return stats


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
    checks = statuses(pool_checks(pool_stats(utilization=0.85), PoolThresholds()))
    assert checks["pool:utilization"] is Status.WARN


def test_a_timeout_in_the_last_minute_fails() -> None:
    checks = pool_checks(pool_stats(timeouts_last_minute=1), PoolThresholds())
    report = HealthReport(checks, "pool")
    assert statuses(checks)["pool:timeouts"] is Status.FAIL
    assert report.http_status == 503


def test_frequent_or_long_waits_warn() -> None:
    slow = pool_stats(wait_ratio=0.3)
    slow["checkout_wait_ms"] = {**slow["checkout_wait_ms"], "p95": 250.0}
    checks = statuses(pool_checks(slow, PoolThresholds()))
    assert checks["pool:waitRatio"] is Status.WARN
    assert checks["pool:waitTime"] is Status.WARN


def test_efficiency_reports_wait_share_and_p95() -> None:
    eff = pool_efficiency(pool_stats(wait_ratio=0.25))
    assert eff == {
        "reuse_ratio": 0.9,
        "wait_ratio": 0.25,
        "checkout_wait_p95_ms": 0.2,
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
