"""The query performance tracker on a real engine, and its pure parts."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.database import DatabaseConfig, create_engine_from_config
from personal_assistant.monitoring.tracker import OTHER, QueryTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(db_config: DatabaseConfig) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_from_config(db_config)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def tracker(engine: AsyncEngine) -> QueryTracker:
    tracker = QueryTracker(slow_query_ms=100.0)
    tracker.attach(engine)
    return tracker


async def test_statements_are_counted_by_fingerprint_without_parameters(
    engine: AsyncEngine, tracker: QueryTracker
) -> None:
    async with engine.connect() as conn:
        for i in range(5):
            await conn.execute(text("SELECT CAST(:v AS text)"), {"v": f"param-secret-{i}"})
    statements = tracker.wire()["statements"]
    (entry,) = [s for s in statements.values() if "CAST" in s["statement"]]
    assert entry["total"]["bins"] and sum(c for _, c in entry["total"]["bins"]) == 5
    assert "param-secret" not in json.dumps(tracker.wire())


async def test_a_slow_statement_is_logged_as_json_with_its_call_site(
    engine: AsyncEngine, tracker: QueryTracker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="personal_assistant.monitoring.tracker.slow")
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_sleep(0.2)"))
    (record,) = [r for r in caplog.records if r.name.endswith(".slow")]
    logged = json.loads(record.getMessage())
    assert logged["event"] == "slow_query"
    assert logged["duration_ms"] >= 200
    assert logged["statement"] == "SELECT pg_sleep($1)"
    assert logged["fingerprint"] == tracker.slow_queries[0].fingerprint
    assert "test_performance.py" in logged["call_site"]


async def test_fast_statements_are_not_logged(
    engine: AsyncEngine, tracker: QueryTracker, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert not [r for r in caplog.records if r.name.endswith(".slow")]
    assert tracker.slow_queries == ()


def test_the_slow_query_ring_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    tracker = QueryTracker(slow_query_ms=1.0, slow_buffer=3)
    for _ in range(10):
        tracker.record("SELECT 1", 5.0)
    assert len(tracker.slow_queries) == 3
    assert tracker.wire()["slow_total"] == 10


def test_statements_beyond_the_limit_count_as_other() -> None:
    tracker = QueryTracker(max_fingerprints=2)
    for table in ("a", "b", "c", "d"):
        tracker.record(f"SELECT * FROM {table}", 1.0)
    assert tracker.fingerprints()[2:] == (OTHER,)
    assert len(tracker.fingerprints()) == 3


def test_percentiles_are_within_one_percent_of_exact_values() -> None:
    tracker = QueryTracker(slow_query_ms=1e9)
    for ms in range(1, 1001):
        tracker.record("SELECT 1", float(ms))
    from personal_assistant.monitoring.aggregate import performance_view

    overall = performance_view([tracker.wire()])["overall"]["total_ms"]
    assert overall["p50"] == pytest.approx(500, rel=0.0101)
    assert overall["p95"] == pytest.approx(950, rel=0.0101)
    assert overall["p99"] == pytest.approx(990, rel=0.0101)
    assert overall["max"] == 1000


def test_the_rolling_window_forgets_old_samples_but_totals_keep_them() -> None:
    clock = FakeClock()
    tracker = QueryTracker(window_s=300, clock=clock, slow_query_ms=1e9)
    for _ in range(100):
        tracker.record("SELECT 1", 50.0)
    clock.now += 400
    tracker.record("SELECT 1", 10.0)
    from personal_assistant.monitoring.aggregate import performance_view

    overall = performance_view([tracker.wire()])["overall"]
    assert overall["window_ms"]["count"] == 1 and overall["window_ms"]["p95"] == 10.0
    assert overall["total_ms"]["count"] == 101


def test_memory_stays_bounded_whatever_the_traffic() -> None:
    tracker = QueryTracker(max_fingerprints=50, slow_query_ms=1e9)
    for i in range(5000):
        table = "".join(chr(97 + int(d)) for d in str(i))  # fingerprints ignore digits
        tracker.record(f"SELECT * FROM t_{table}", float(i % 97) + 0.1)
    assert len(tracker.fingerprints()) == 51
    assert len(json.dumps(tracker.wire())) < 2_000_000
