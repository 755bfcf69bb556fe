"""Sketch encoding, merging and buckets: percentiles stay within 1% of exact values."""

from __future__ import annotations

import json
import random

import pytest

from personal_assistant.database.latency import LatencySketch
from personal_assistant.monitoring import sketch_codec


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * (len(ordered) - 1)), len(ordered) - 1)]


def sketch_of(values: list[float]) -> LatencySketch:
    sketch = LatencySketch()
    for v in values:
        sketch.add(v)
    return sketch


@pytest.mark.parametrize(
    "values",
    [
        [float(i) for i in range(1, 10_001)],
        [random.Random(7).lognormvariate(0, 1.5) for _ in range(20_000)],
    ],
    ids=["uniform", "lognormal"],
)
def test_percentiles_are_within_one_percent(values: list[float]) -> None:
    decoded = sketch_codec.decode(json.loads(json.dumps(sketch_codec.encode(sketch_of(values)))))
    for q in (0.5, 0.95, 0.99):
        exact = exact_quantile(values, q)
        assert decoded.quantile(q) == pytest.approx(exact, rel=0.0101)
    assert decoded.summary().max == round(max(values), 3)
    assert decoded.count == len(values)


def test_round_trip_keeps_quantiles_exactly() -> None:
    original = sketch_of([0.0, 0.2, 1.5, 3.0, 250.0])
    decoded = sketch_codec.decode(sketch_codec.encode(original))
    assert decoded.summary() == original.summary()


def test_merged_sketches_equal_the_union() -> None:
    a = [float(i) for i in range(1, 501)]
    b = [float(i) for i in range(501, 1001)]
    merged = sketch_codec.merged(
        [sketch_codec.encode(sketch_of(a)), sketch_codec.encode(sketch_of(b))]
    )
    assert merged.summary() == sketch_of(a + b).summary()


def test_cumulative_buckets_count_values_below_each_bound() -> None:
    sketch = sketch_of([0.5, 2.0, 20.0, 200.0, 2000.0])
    assert sketch_codec.cumulative_buckets(sketch, [1.0, 10.0, 100.0, 1000.0]) == [1, 2, 3, 4, 5]
