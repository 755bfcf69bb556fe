"""A worker's snapshot: its pool figures through JSON (as Redis carries them) and back."""

from __future__ import annotations

import json

from personal_assistant.database.pool_stats import PoolStatsCollector
from personal_assistant.monitoring.runtime import Gathered
from personal_assistant.monitoring.snapshot import local_snapshot


def busy_collector() -> PoolStatsCollector:
    collector = PoolStatsCollector(pool_size=3, max_overflow=2)
    for wait_s in (0.001, 0.002, 0.050):
        collector.record_wait(wait_s, waited=wait_s > 0.01)
    collector.record_create(0.004)
    collector.record_timeout()
    return collector


def test_the_pool_figures_survive_json_unchanged() -> None:
    collector = busy_collector()
    snapshot = json.loads(json.dumps(local_snapshot("w1", collector, None)))
    (stats,) = Gathered([snapshot], {}).pools.values()
    assert stats.as_dict() == collector.snapshot().as_dict()
    assert (stats.waited_checkouts, stats.timeouts, stats.capacity) == (1, 1, 5)


def test_pools_are_keyed_by_worker_and_workers_without_a_pool_are_left_out() -> None:
    with_pool = local_snapshot("w1", busy_collector(), None)
    without = local_snapshot("w2", None, None)
    assert list(Gathered([with_pool, without], {}).pools) == ["w1"]
