"""Aggregating worker snapshots (pure): sums, recomputed ratios, merged sketches."""

from __future__ import annotations

from typing import Any

from personal_assistant.database.latency import LatencySketch
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.aggregate import merge_pool, performance_view
from personal_assistant.monitoring.tracker import QueryTracker


def pool(checked_out: int, checkouts: int, waited: int, waits: list[float]) -> dict[str, Any]:
    wait = LatencySketch()
    for w in waits:
        wait.add(w)
    stats = {
        "pending_requests": 0,
        "pool_size": 5, "max_overflow": 5, "capacity": 10, "checked_out": checked_out,
        "checked_in": 1, "overflow": 0, "total_checkouts": checkouts,
        "connections_created": 2, "connections_closed": 0, "waited_checkouts": waited,
        "timeouts": 0, "timeouts_last_minute": 0, "invalidations": 0,
        "disconnects_recovered": 0, "reuse_ratio": 0.5, "utilization": checked_out / 10,
        "wait_ratio": waited / checkouts,
    }  # fmt: skip
    return {"stats": stats, "wait": sketch_codec.encode(wait), "use": sketch_codec.encode(wait)}


def test_pool_counts_add_up_and_ratios_are_recomputed() -> None:
    merged = merge_pool([pool(8, 100, 10, [1.0] * 100), pool(2, 300, 0, [3.0] * 300)])
    assert merged["capacity"] == 20 and merged["checked_out"] == 10
    assert merged["utilization"] == 0.5
    assert merged["wait_ratio"] == round(10 / 400, 4)
    assert merged["reuse_ratio"] == 0.5
    assert merged["checkout_wait_ms"]["count"] == 400
    assert (
        merged["checkout_wait_ms"]["p50"]
        == sketch_codec.merged(
            [pool(0, 1, 0, [1.0] * 100)["wait"], pool(0, 1, 0, [3.0] * 300)["wait"]]
        )
        .summary()
        .p50
    )


def test_one_snapshot_gives_that_workers_figures() -> None:
    single = pool(3, 50, 5, [0.5, 1.5, 2.5])
    merged = merge_pool([single])
    for key in ("capacity", "checked_out", "total_checkouts", "waited_checkouts"):
        assert merged[key] == single["stats"][key]
    assert merged["wait_ratio"] == 0.1


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
