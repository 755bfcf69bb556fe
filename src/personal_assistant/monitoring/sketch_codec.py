"""A wire format for :class:`LatencySketch`, and histogram buckets read from one.

Workers publish their sketches to Redis and the endpoints merge them, which keeps
service-wide percentiles within DDSketch's 1% error (averaging per-worker p95s would
not). ``latency.py`` has no serialization of its own, so this module reads the sketch's
bins directly, in this one place; ``ddsketch``'s protobuf export would need the
``protobuf`` package. The encoding lists only non-empty bins, so an idle sketch costs a
few bytes and a busy one a few hundred bins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from personal_assistant.database.latency import LatencySketch


def encode(sketch: LatencySketch) -> dict[str, Any]:
    """A JSON-able dict from which :func:`decode` rebuilds an equivalent sketch."""
    dd = sketch._sketch
    store = dd._store
    bins = [[store.offset + i, count] for i, count in enumerate(store.bins) if count]
    return {"bins": bins, "zero": dd._zero_count, "max": sketch._max, "sum": dd.sum}


def decode(data: Mapping[str, Any]) -> LatencySketch:
    """The sketch :func:`encode` described (each bin keeps its key, so quantiles match)."""
    sketch = LatencySketch()
    dd = sketch._sketch
    mapping = dd._mapping
    for key, count in data.get("bins", ()):
        dd.add(mapping.value(int(key)), float(count))
    zero = float(data.get("zero", 0.0))
    if zero:
        dd.add(0.0, zero)
    sketch._max = float(data.get("max", 0.0))
    return sketch


def merged(sketches: Sequence[Mapping[str, Any]]) -> LatencySketch:
    """One sketch from several encoded ones (e.g. one per worker)."""
    total = LatencySketch()
    for data in sketches:
        total.merge(decode(data))
    return total


def sketch_sum(sketch: LatencySketch) -> float:
    """Sum of the recorded values (exact as recorded, approximate after ``decode``)."""
    return float(sketch._sketch.sum)


def cumulative_buckets(sketch: LatencySketch, bounds: Sequence[float]) -> list[int]:
    """Counts of values ≤ each bound (same units as the sketch), then the total.

    Each bin is counted at its representative value, so a value within 1% of a bound
    may land in the neighbouring bucket: fine for a Prometheus histogram.
    """
    dd = sketch._sketch
    mapping = dd._mapping
    store = dd._store
    per_bucket = [0.0] * (len(bounds) + 1)
    per_bucket[0] += dd._zero_count
    for i, count in enumerate(store.bins):
        if not count:
            continue
        value = mapping.value(store.offset + i)
        slot = next((j for j, bound in enumerate(bounds) if value <= bound), len(bounds))
        per_bucket[slot] += count
    cumulative = []
    running = 0.0
    for count in per_bucket:
        running += count
        cumulative.append(round(running))
    return cumulative
