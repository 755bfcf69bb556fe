"""The tracker holds slow statements until they are judged (pure, no database)."""

from __future__ import annotations

import json
import logging

import pytest

from personal_assistant.monitoring.aggregate import merge_statements, performance_view
from personal_assistant.monitoring.attribution import attribute
from personal_assistant.monitoring.fingerprint import statement_key
from personal_assistant.monitoring.server_time import ServerDelta
from personal_assistant.monitoring.tracker import QueryTracker

SQL = "SELECT * FROM users WHERE id = $1"
FP = statement_key(SQL).fingerprint


def held_tracker() -> QueryTracker:
    tracker = QueryTracker(slow_query_ms=100.0)
    tracker.defer_slow = True
    return tracker


def slow_logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith(".slow")]


def test_a_held_slow_statement_is_neither_logged_nor_listed_before_it_is_judged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    tracker = held_tracker()
    tracker.record(SQL, 250.0)
    assert slow_logged(caplog) == [] and tracker.slow_queries == ()
    (held,) = tracker.take_pending()
    assert held.fingerprint == FP and held.client_ms == 250.0
    assert tracker.take_pending() == ()


def test_judged_client_side_it_is_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    tracker = held_tracker()
    tracker.record(SQL, 250.0)
    server = {FP: ServerDelta(calls=40, total_ms=4.0, min_ms=0.08, max_ms=0.5)}
    tracker.settle(attribute(tracker.take_pending(), server, slow_query_ms=100.0))
    wire = tracker.wire()
    assert slow_logged(caplog) == [] and wire["slow_total"] == 0
    assert wire["client_slow_total"] == 1 and wire["statements"][FP]["client_slow"] == 1
    merged = merge_statements([wire, wire])[FP]  # two workers
    assert merged.client_slow == 2 and merged.figures().client_slow == 2
    assert performance_view([wire])["client_slow_count"] == 1


def test_judged_the_databases_it_is_logged_with_the_server_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    tracker = held_tracker()
    tracker.record(SQL, 250.0)
    server = {FP: ServerDelta(calls=1, total_ms=247.0, min_ms=0.08, max_ms=247.0)}
    tracker.settle(attribute(tracker.take_pending(), server, slow_query_ms=100.0))
    (logged,) = slow_logged(caplog)
    assert logged["event"] == "slow_query" and logged["duration_ms"] == 250.0
    assert logged["server_ms"] == 247.0 and tracker.wire()["statements"][FP]["slow"] == 1


def test_a_tracker_on_its_own_logs_slow_statements_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    tracker = QueryTracker(slow_query_ms=100.0)
    tracker.record(SQL, 250.0)
    (logged,) = slow_logged(caplog)
    assert logged["server_ms"] is None and str(logged["reason"]).startswith("not judged")
    assert tracker.take_pending() == ()
