"""Streaming latency quantiles with bounded memory (DDSketch).

DDSketch guarantees a relative error (1% here) on every quantile, whatever the number
of samples, and sketches merge exactly: per-worker sketches can be combined into one
service-wide figure. Used by pool checkout-wait statistics and the query tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class LatencySketch:
    """Durations in milliseconds; quantiles within 1% relative error."""

    def __init__(self) -> None:
        self._sketch = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
        self._max = 0.0

    def add(self, value_ms: float) -> None:
        self._sketch.add(max(value_ms, 0.0))
        self._max = max(self._max, value_ms)

    def merge(self, other: LatencySketch) -> None:
        self._sketch.merge(other._sketch)
        self._max = max(self._max, other._max)

    @property
    def count(self) -> int:
        return int(self._sketch.count)

    def quantile(self, q: float) -> float:
        if self.count == 0:
            return 0.0
        value = self._sketch.get_quantile_value(q)
        return min(float(value), self._max) if value is not None else 0.0

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
