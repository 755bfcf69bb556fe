"""Alerts that say which side was slow: the database, or the service (pure)."""

from __future__ import annotations

from personal_assistant.database.latency import LatencySummary
from personal_assistant.monitoring.alerts import (
    CPU_BOUND,
    OUTSIDE_DATABASE,
    OVERALL_P95,
    STATEMENT_REGRESSION,
    AlertRules,
    Baseline,
    LatencyContext,
    StatementFigures,
    evaluate,
)

RULES = AlertRules(factor=1.5, floor_ms=10.0, overall_p95_ms=100.0, min_samples=20)
BASE = {"f1": Baseline("f1", "SELECT $1", 100, 0.5, 1.0, "2024-01-01T00:00:00+00:00")}


def lag(p99: float, count: int = 200) -> LatencySummary:
    return LatencySummary(count=count, p50=p99 / 2, p95=p99, p99=p99, max=p99)


def ctx(
    lag_p99: float, note: str | None = None, count: int = 200, **kw: float | None
) -> LatencyContext:
    return LatencyContext(loop_lag=lag(lag_p99, count), slow_query_ms=100.0, server_note=note, **kw)


def fig(server_ms: float | None, client_slow: int = 0) -> StatementFigures:
    return StatementFigures(
        "f1", "SELECT $1", 50, 20.0, 150.0, mean_ms=40.0, server_mean_ms=server_ms,
        client_slow=client_slow,
    )  # fmt: skip


def test_a_regression_the_database_spent_stays_a_regression_with_its_server_time() -> None:
    found = evaluate([fig(server_ms=38.0)], BASE, 5.0, 50, RULES, ctx(lag_p99=2.0))
    (alert,) = found.values()
    assert alert.kind == STATEMENT_REGRESSION and alert.server_mean_ms == 38.0
    assert "the database: 38 ms (mean per call)" in alert.message


def test_a_regression_the_database_did_not_spend_is_the_service_being_cpu_bound() -> None:
    found = evaluate([fig(server_ms=0.108)], BASE, 5.0, 50, RULES, ctx(lag_p99=180.0))
    (alert,) = found.values()
    assert alert.kind == CPU_BOUND and alert.observed_ms == 180.0
    assert alert.message.startswith("the service is CPU-bound (event-loop lag p99 180 ms)")
    assert "the database answered in 0.108 ms" in alert.message


def test_client_only_slowness_with_a_quiet_loop_points_outside_the_database() -> None:
    found = evaluate([fig(server_ms=0.1)], BASE, 5.0, 50, RULES, ctx(lag_p99=1.0))
    (alert,) = found.values()
    assert alert.kind == OUTSIDE_DATABASE and "network" in alert.message


def test_without_server_time_a_lagging_loop_takes_the_blame_and_says_so() -> None:
    found = evaluate(
        [fig(server_ms=None)], BASE, 5.0, 50, RULES, ctx(120.0, note="extension not installed")
    )
    (alert,) = found.values()
    assert alert.kind == CPU_BOUND
    assert "an unknown time (extension not installed)" in alert.message


def test_without_server_time_and_a_quiet_loop_the_regression_stands() -> None:
    found = evaluate([fig(server_ms=None)], BASE, 5.0, 50, RULES, ctx(lag_p99=1.0))
    assert [a.kind for a in found.values()] == [STATEMENT_REGRESSION]


def test_client_slow_calls_alone_raise_the_service_alert() -> None:
    quiet = evaluate([fig(0.1, client_slow=19)], {}, 5.0, 50, RULES, ctx(lag_p99=60.0, count=5))
    many = evaluate([fig(0.1, client_slow=20)], {}, 5.0, 50, RULES, ctx(lag_p99=1.0))
    assert quiet == {}  # too few of either to alert
    (alert,) = many.values()
    assert alert.kind == OUTSIDE_DATABASE and "20 calls over 100 ms were not slow queries" in (
        alert.message
    )


def test_a_lagging_loop_alone_raises_cpu_bound() -> None:
    (alert,) = evaluate([], {}, 0.0, 0, RULES, ctx(lag_p99=75.0)).values()
    assert alert.kind == CPU_BOUND and alert.threshold_ms == RULES.loop_lag_p99_ms


def test_an_overall_p95_the_database_did_not_spend_is_not_an_overall_alert() -> None:
    server_fast = ctx(lag_p99=150.0, overall_mean_ms=40.0, overall_server_mean_ms=0.2)
    server_slow = ctx(lag_p99=1.0, overall_mean_ms=40.0, overall_server_mean_ms=39.0)
    assert list(evaluate([], {}, 150.0, 50, RULES, server_fast)) == [CPU_BOUND]
    assert list(evaluate([], {}, 150.0, 50, RULES, server_slow)) == [OVERALL_P95]


def test_without_context_the_rules_are_as_before() -> None:
    found = evaluate([fig(server_ms=0.1)], BASE, 150.0, 50, RULES)
    assert sorted(a.kind for a in found.values()) == [OVERALL_P95, STATEMENT_REGRESSION]
