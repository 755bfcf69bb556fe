"""Event-loop lag: the monitor's figures, and how much of a span the loop was blocked."""

from __future__ import annotations

import asyncio
import time

import pytest

from personal_assistant.monitoring.loop_lag import LoopLagMonitor, lag_view, overlap_ms


def busy_wait(seconds: float) -> None:
    """Hold the event loop (and the GIL) without awaiting, as CPU-bound code does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_overlap_counts_only_the_blocked_part_of_a_span() -> None:
    blocks = [(0.0, 1.0), (2.0, 2.5), (9.0, 9.1)]
    assert overlap_ms(blocks, 0.5, 2.2) == pytest.approx(700.0)
    assert overlap_ms(blocks, 3.0, 8.0) == 0.0


def test_small_lags_are_figures_but_not_blocks() -> None:
    monitor = LoopLagMonitor()
    monitor.observe(0.2, woke_at=5.0)
    monitor.observe(40.0, woke_at=6.0)
    assert monitor.summary().count == 2
    assert round(monitor.blocked_ms(0.0, 10.0), 6) == 40.0


async def test_a_blocked_loop_shows_as_lag_and_as_blocked_time() -> None:
    monitor = LoopLagMonitor(interval_s=0.01)
    monitor.start()
    try:
        await asyncio.sleep(0.05)  # the monitor's timer is due while the loop is held
        started = time.perf_counter()
        busy_wait(0.3)
        await asyncio.sleep(0.05)
        ended = time.perf_counter()
    finally:
        monitor.stop()
    # Only lower bounds: a slower machine only makes the lag larger.
    assert monitor.summary().max >= 250
    assert monitor.blocked_ms(started, ended) >= 250


def test_the_view_gives_the_lag_of_every_worker_and_of_each() -> None:
    one, two = LoopLagMonitor(), LoopLagMonitor()
    for ms in (1.0, 2.0, 3.0):
        one.observe(ms, woke_at=1.0)
    two.observe(200.0, woke_at=1.0)
    view = lag_view({"w1": one.wire(), "w2": two.wire()})
    assert view["window_ms"]["count"] == 4 and view["window_ms"]["max"] == 200.0
    assert [w["worker"] for w in view["workers"]] == ["w1", "w2"]
    assert view["workers"][1]["p99"] >= 198
