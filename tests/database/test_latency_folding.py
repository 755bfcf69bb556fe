"""LatencySketch holds values and folds them in batches: readers see every value."""

from __future__ import annotations

import random

import pytest
from ddsketch import DDSketch

from personal_assistant.database.latency import FOLD_AT, RELATIVE_ACCURACY, LatencySketch


def values(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(0, 1) for _ in range(n)] + [0.0, -1.0]


@pytest.mark.parametrize("n", [1, FOLD_AT - 1, FOLD_AT, 3 * FOLD_AT + 5])
def test_every_reader_sees_every_value_added(n: int) -> None:
    sketch, direct = LatencySketch(), DDSketch(relative_accuracy=RELATIVE_ACCURACY)
    for value in values(n):
        sketch.add(value)
        direct.add(max(value, 0.0))
    assert sketch.count == n + 2
    for q in (0.5, 0.95, 0.99):
        assert sketch.quantile(q) == pytest.approx(min(direct.get_quantile_value(q), sketch.max))
    assert sketch.total == pytest.approx(direct.sum)
    assert sketch.max == max(values(n))
    assert LatencySketch.from_wire(sketch.to_wire()).summary() == sketch.summary()
    assert sum(count for _, count in sketch.weighted_values()) == n + 2


def test_merging_folds_both_sides() -> None:
    left, right = LatencySketch(), LatencySketch()
    for value in values(10, seed=2):
        left.add(value)
    for value in values(10, seed=3):
        right.add(value)
    left.merge(right)
    assert left.count == 24
    assert right.count == 12  # the merged sketch is left as it was
