"""Aggregating worker snapshots (pure): statement sketches merged across workers.

Pool figures merge with ``merge_pool_stats`` (tests/database/test_pool_stats.py).
"""

from __future__ import annotations

from personal_assistant.monitoring.aggregate import performance_view
from personal_assistant.monitoring.tracker import QueryTracker


def test_statement_figures_merge_across_workers() -> None:
    a, b = QueryTracker(), QueryTracker()
    for i in range(100):
        a.record("SELECT * FROM t WHERE id = $1", 1.0 + i % 3)
        b.record("SELECT * FROM t WHERE id = 7", 10.0)
    view = performance_view([a.wire(), b.wire()])
    (row,) = view["statements"]
    assert row["calls"] == 200
    assert view["overall"]["total_ms"]["count"] == 200
    assert view["overall"]["total_ms"]["max"] == 10.0
