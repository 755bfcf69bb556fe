"""PoolStats (pure): derived figures, exact merging across workers, the wire format."""

from __future__ import annotations

import json
from dataclasses import replace

from personal_assistant.database.latency import LatencySketch
from personal_assistant.database.pool_stats import PoolStats, merge_pool_stats


def sketch(values: list[float]) -> LatencySketch:
    result = LatencySketch()
    for value in values:
        result.add(value)
    return result


def pool(
    checked_out: int = 0,
    checkouts: int = 10,
    reused: int = 5,
    waited: int = 0,
    waits: tuple[float, ...] = (),
) -> PoolStats:
    return PoolStats(
        pool_size=5, max_overflow=5, checked_out=checked_out, checked_in=1, overflow=0,
        pending_requests=0, total_checkouts=checkouts, reused_checkouts=reused,
        waited_checkouts=waited, connections_created=2, connections_closed=0, timeouts=0,
        timeouts_last_minute=0, invalidations=0, disconnects_recovered=0,
        checkout_wait=sketch(list(waits)), connection_use=sketch(list(waits)),
        connection_create=sketch([4.0, 6.0]),
    )  # fmt: skip


def test_ratios_are_derived_from_the_counts() -> None:
    stats = pool(checked_out=4, checkouts=200, reused=150, waited=10)
    assert (stats.capacity, stats.utilization) == (10, 0.4)
    assert (stats.reuse_ratio, stats.wait_ratio) == (0.75, 0.05)


def test_a_pool_without_checkouts_counts_as_fully_reused_and_never_waiting() -> None:
    stats = pool(checkouts=0, reused=0)
    assert (stats.reuse_ratio, stats.wait_ratio) == (1.0, 0.0)


def test_merged_counts_add_up_and_ratios_are_recomputed() -> None:
    merged = merge_pool_stats(
        [pool(8, 100, 50, 10, (1.0,) * 100), pool(2, 300, 150, 0, (3.0,) * 300)]
    )
    assert merged.capacity == 20 and merged.checked_out == 10
    assert merged.utilization == 0.5
    assert merged.wait_ratio == round(10 / 400, 4)
    assert merged.reuse_ratio == 0.5
    assert merged.checkout_wait_ms["count"] == 400
    assert merged.checkout_wait_ms["p50"] == sketch([1.0] * 100 + [3.0] * 300).summary().p50


def test_merged_reuse_is_exact_where_a_rounded_ratio_was_not() -> None:
    # 33,333 of 100,000 rounds to 0.3333, which gave back 33,330 reused checkouts.
    merged = merge_pool_stats([pool(checkouts=100_000, reused=33_333), pool(checkouts=3, reused=3)])
    assert merged.reused_checkouts == 33_336
    assert merged.reuse_ratio == round(33_336 / 100_003, 4)


def test_merging_one_pool_gives_its_own_figures() -> None:
    single = pool(3, 50, 20, 5, (0.5, 1.5, 2.5))
    assert merge_pool_stats([single]).as_dict() == single.as_dict()


def test_merging_leaves_the_inputs_untouched() -> None:
    a, b = pool(waits=(1.0,)), pool(waits=(2.0,))
    merge_pool_stats([a, b])
    assert a.checkout_wait.count == 1 and b.checkout_wait.count == 1


def test_the_wire_form_survives_json_with_exact_counts_and_percentiles() -> None:
    stats = replace(pool(3, 50, 20, 5, (0.5, 1.5, 2.5, 40.0)), timeouts=2)
    back = PoolStats.from_wire(json.loads(json.dumps(stats.to_wire())))
    assert back.as_dict() == stats.as_dict()
    assert back.reused_checkouts == 20


def test_the_body_keeps_its_keys_and_holds_no_sketch() -> None:
    body = pool().as_dict()
    assert set(body) == {
        "pool_size", "max_overflow", "capacity", "checked_out", "checked_in", "overflow",
        "utilization", "total_checkouts", "connections_created", "connections_closed",
        "reuse_ratio", "waited_checkouts", "wait_ratio", "pending_requests",
        "checkout_wait_ms", "connection_use_ms", "connection_create_ms", "timeouts",
        "timeouts_last_minute", "invalidations", "disconnects_recovered",
    }  # fmt: skip
    assert body["connection_create_ms"] == sketch([4.0, 6.0]).summary().as_dict()
    json.dumps(body)
