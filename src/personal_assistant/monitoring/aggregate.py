"""Combining worker snapshots' query figures into one service-wide view, pure.

A snapshot is what one worker publishes (see :mod:`.snapshot`): its pool statistics
(merged by :func:`~personal_assistant.database.pool_stats.merge_pool_stats`) and its
query tracker's encoded sketches, merged here. Counts are summed; percentiles come
from merged sketches, never from averaging per-worker percentiles (the p95 of a union
is not the mean of p95s). With one snapshot the result equals that worker's own figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from personal_assistant.database.latency import LatencySketch
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.alerts import StatementFigures
from personal_assistant.monitoring.own_statements import is_own


@dataclass
class MergedStatement:
    """One fingerprint's figures over every worker."""

    fingerprint: str
    statement: str
    slow: int
    total: LatencySketch
    window: LatencySketch

    def figures(self) -> StatementFigures:
        window = self.window.summary()
        return StatementFigures(
            self.fingerprint, self.statement, window.count, window.p50, window.p95
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "statement": self.statement,
            "calls": self.total.count,
            "slow": self.slow,
            "total_ms": self.total.summary().as_dict(),
            "window_ms": self.window.summary().as_dict(),
        }


def merge_statements(perfs: Iterable[Mapping[str, Any]]) -> dict[str, MergedStatement]:
    """Per-fingerprint sketches merged over ``perfs`` (each a ``QueryTracker.wire()``)."""
    merged: dict[str, MergedStatement] = {}
    for perf in perfs:
        for fp, data in perf["statements"].items():
            total = sketch_codec.decode(data["total"])
            window = sketch_codec.decode(data["window"])
            have = merged.get(fp)
            if have is None:
                merged[fp] = MergedStatement(fp, data["statement"], data["slow"], total, window)
                continue
            have.total.merge(total)
            have.window.merge(window)
            have.slow += int(data["slow"])
    return merged


def overall(statements: Iterable[MergedStatement]) -> tuple[LatencySketch, LatencySketch]:
    """(total, window) sketches over every statement."""
    total, window = LatencySketch(), LatencySketch()
    for stmt in statements:
        total.merge(stmt.total)
        window.merge(stmt.window)
    return total, window


def performance_view(
    perfs: Sequence[Mapping[str, Any]], *, top: int = 10, recent_slow: int = 20
) -> dict[str, Any]:
    """Percentiles overall and per statement, the slowest statements and slow queries."""
    statements = merge_statements(perfs)
    total, window = overall(statements.values())
    rows = sorted(
        (s.as_dict() for s in statements.values()),
        key=lambda row: row["total_ms"]["p95"],
        reverse=True,
    )
    slow = sorted((q for p in perfs for q in p["slow"]), key=lambda q: q["at"], reverse=True)
    return {
        "window_s": perfs[0]["window_s"] if perfs else None,
        "slow_query_ms": perfs[0]["slow_query_ms"] if perfs else None,
        "overall": {
            "total_ms": total.summary().as_dict(),
            "window_ms": window.summary().as_dict(),
        },
        "slow_query_count": sum(int(p["slow_total"]) for p in perfs),
        "slowest_statements": [  # the application's: the monitoring's own are left out
            {k: row[k] for k in ("fingerprint", "statement", "calls", "total_ms")}
            for row in [r for r in rows if not is_own(r["statement"])][:top]
        ],
        "statements": rows,
        "recent_slow_queries": slow[:recent_slow],
    }
