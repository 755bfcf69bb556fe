"""Streaming latency quantiles with bounded memory (DDSketch).

DDSketch guarantees a relative error (1% here) on every quantile, whatever the number
of samples, and sketches merge exactly: per-worker sketches can be combined into one
service-wide figure. Used by pool checkout-wait statistics and the query tracker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ddsketch import DDSketch

#: Relative accuracy of every reported quantile.
RELATIVE_ACCURACY = 0.01


@dataclass(frozen=True)
class LatencySummary:
    """Quantiles of a set of durations, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
        }


EMPTY_SUMMARY = LatencySummary(count=0, p50=0.0, p95=0.0, p99=0.0, max=0.0)


#: Values held before they go into the sketch together. Added one by one on a busy
#: request path, a DDSketch insert cost ~4 µs (its code and data fall out of the CPU
#: caches between requests); in a batch, ~1 µs each. Every reader folds them in first.
FOLD_AT = 64


class LatencySketch:
    """Durations in milliseconds; quantiles within 1% relative error."""

    def __init__(self) -> None:
        self._sketch = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
        self._max = 0.0
        self._pending: list[float] = []

    def add(self, value_ms: float) -> None:
        pending = self._pending
        pending.append(value_ms)
        if value_ms > self._max:
            self._max = value_ms
        if len(pending) >= FOLD_AT:
            self._folded()

    def _folded(self) -> DDSketch:
        """The sketch, with every value added so far in it."""
        sketch = self._sketch
        if self._pending:
            pending, self._pending = self._pending, []
            add = sketch.add
            for value in pending:
                add(value if value > 0.0 else 0.0)
        return sketch

    def merge(self, other: LatencySketch) -> None:
        self._folded().merge(other._folded())
        self._max = max(self._max, other._max)

    @property
    def count(self) -> int:
        return int(self._sketch.count) + len(self._pending)

    def quantile(self, q: float) -> float:
        if self.count == 0:
            return 0.0
        value = self._folded().get_quantile_value(q)
        return min(float(value), self._max) if value is not None else 0.0

    @property
    def total(self) -> float:
        """Sum of the recorded values."""
        return float(self._folded().sum)

    @property
    def max(self) -> float:
        return self._max

    def weighted_values(self) -> Iterator[tuple[float, float]]:
        """``(representative value, count)`` per non-empty bin, zeros first.

        This (and the wire format below) reads DDSketch's bins, here in the one class
        that owns the sketch: ddsketch's own export needs the protobuf package.
        """
        sketch = self._folded()
        zeros = float(sketch._zero_count)
        if zeros:
            yield 0.0, zeros
        store = sketch._store
        mapping = sketch._mapping
        for index, count in enumerate(store.bins):
            if count:
                yield float(mapping.value(store.offset + index)), float(count)

    def to_wire(self) -> dict[str, Any]:
        """A JSON-able form that :meth:`from_wire` turns back into an equivalent sketch.

        Only non-empty bins are listed (by key, so quantiles survive exactly): an idle
        sketch costs a few bytes, a busy one a few hundred bins.
        """
        sketch = self._folded()
        store = sketch._store
        bins = [[store.offset + i, count] for i, count in enumerate(store.bins) if count]
        return {
            "bins": bins,
            "zero": sketch._zero_count,
            "max": self._max,
            "sum": sketch.sum,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LatencySketch:
        sketch = cls()
        mapping = sketch._sketch._mapping
        for key, count in data.get("bins", ()):
            sketch._sketch.add(mapping.value(int(key)), float(count))
        zeros = float(data.get("zero", 0.0))
        if zeros:
            sketch._sketch.add(0.0, zeros)
        sketch._max = float(data.get("max", 0.0))
        return sketch

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return EMPTY_SUMMARY
        return LatencySummary(
            count=self.count,
            p50=round(self.quantile(0.50), 3),
            p95=round(self.quantile(0.95), 3),
            p99=round(self.quantile(0.99), 3),
            max=round(self._max, 3),
        )
