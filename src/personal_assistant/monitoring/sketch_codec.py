"""A wire format for :class:`LatencySketch`, and histogram buckets read from one.

Workers publish their sketches to Redis and the endpoints merge them, which keeps
service-wide percentiles within DDSketch's 1% error (averaging per-worker p95s would
not). The wire format itself is :meth:`LatencySketch.to_wire`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from personal_assistant.database.latency import LatencySketch


def encode(sketch: LatencySketch) -> dict[str, Any]:
    """A JSON-able dict from which :func:`decode` rebuilds an equivalent sketch."""
    return sketch.to_wire()


def decode(data: Mapping[str, Any]) -> LatencySketch:
    """The sketch :func:`encode` described (each bin keeps its key, so quantiles match)."""
    return LatencySketch.from_wire(data)


def merged(sketches: Sequence[Mapping[str, Any]]) -> LatencySketch:
    """One sketch from several encoded ones (e.g. one per worker)."""
    total = LatencySketch()
    for data in sketches:
        total.merge(decode(data))
    return total


def sketch_sum(sketch: LatencySketch) -> float:
    """Sum of the recorded values (exact as recorded, approximate after ``decode``)."""
    return sketch.total


def cumulative_buckets(sketch: LatencySketch, bounds: Sequence[float]) -> list[int]:
    """Counts of values ≤ each bound (same units as the sketch), then the total.

    Each bin is counted at its representative value, so a value within 1% of a bound
    may land in the neighbouring bucket: fine for a Prometheus histogram.
    """
    per_bucket = [0.0] * (len(bounds) + 1)
    for value, count in sketch.weighted_values():
        slot = next((j for j, bound in enumerate(bounds) if value <= bound), len(bounds))
        per_bucket[slot] += count
    cumulative = []
    running = 0.0
    for count in per_bucket:
        running += count
        cumulative.append(round(running))
    return cumulative
