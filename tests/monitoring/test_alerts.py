"""Alert rules and the alert book (pure)."""

from __future__ import annotations

from personal_assistant.monitoring.alerts import (
    OVERALL_P95,
    AlertBook,
    AlertRules,
    Baseline,
    StatementFigures,
    compare,
    evaluate,
)

RULES = AlertRules(factor=1.5, floor_ms=10.0, overall_p95_ms=100.0, min_samples=20)


def base(p95: float, fp: str = "f1") -> Baseline:
    return Baseline(fp, "SELECT $1", 100, p95 / 2, p95, "2024-01-01T00:00:00+00:00")


def fig(p95: float, count: int = 50, fp: str = "f1") -> StatementFigures:
    return StatementFigures(fp, "SELECT $1", count, p95 / 2, p95)


def test_a_statement_alerts_above_factor_and_floor() -> None:
    found = evaluate([fig(31.0)], {"f1": base(20.0)}, 5.0, 50, RULES)
    (alert,) = found.values()
    assert alert.fingerprint == "f1" and alert.threshold_ms == 30.0


def test_the_floor_stops_tiny_regressions() -> None:
    assert evaluate([fig(4.0)], {"f1": base(1.0)}, 1.0, 50, RULES) == {}


def test_within_the_factor_no_alert() -> None:
    assert evaluate([fig(29.0)], {"f1": base(20.0)}, 5.0, 50, RULES) == {}


def test_too_few_samples_never_alert() -> None:
    assert evaluate([fig(500.0, count=5)], {"f1": base(20.0)}, 500.0, 5, RULES) == {}


def test_no_baseline_no_statement_alert() -> None:
    assert evaluate([fig(500.0)], {}, 5.0, 50, RULES) == {}


def test_overall_p95_above_limit_alerts() -> None:
    found = evaluate([], {}, 150.0, 50, RULES)
    assert list(found) == [OVERALL_P95]


def test_book_reports_each_raise_and_clear_once() -> None:
    book = AlertBook()
    high = evaluate([], {}, 150.0, 50, RULES)
    first = book.update(high, now=1.0)
    again = book.update(high, now=2.0)
    assert [a.key for a in first.raised] == [OVERALL_P95]
    assert again.raised == () and again.cleared == ()
    assert book.active[0].since == 1.0
    cleared = book.update({}, now=3.0)
    assert [a.key for a in cleared.cleared] == [OVERALL_P95]
    assert book.active == ()


def test_compare_gives_the_ratio_to_baseline() -> None:
    (row,) = compare([fig(30.0)], {"f1": base(20.0)})
    assert row["p95_ratio"] == 1.5 and row["baseline_p95_ms"] == 20.0
