"""Combining worker snapshots' query figures into one service-wide view, pure.

A snapshot is what one worker publishes (see :mod:`.snapshot`): its pool statistics
(merged by :func:`~personal_assistant.database.pool_stats.merge_pool_stats`) and its
query tracker's encoded sketches, merged here. Counts are summed; percentiles come
from merged sketches, never from averaging per-worker percentiles (the p95 of a union
is not the mean of p95s). With one snapshot the result equals that worker's own figures.

Statement times here are client times; the server's per statement (one figure for the
whole service: every worker reads the same ``pg_stat_statements``) is set beside them
when given (:class:`~.server_time.ServerDelta` by fingerprint).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from personal_assistant.database.latency import LatencySketch
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.alerts import StatementFigures
from personal_assistant.monitoring.own_statements import is_own
from personal_assistant.monitoring.server_time import ServerDelta


def _mean(sketch: LatencySketch) -> float | None:
    return round(sketch.total / sketch.count, 3) if sketch.count else None


@dataclass
class MergedStatement:
    """One fingerprint's figures over every worker."""

    fingerprint: str
    statement: str
    slow: int
    total: LatencySketch
    window: LatencySketch
    #: Calls slow on the client that the database answered fast: since start, and the
    #: rolling window's client times of them.
    client_slow: int = 0
    client_window: LatencySketch = field(default_factory=LatencySketch)

    def figures(self, server: ServerDelta | None = None) -> StatementFigures:
        window = self.window.summary()
        return StatementFigures(
            self.fingerprint,
            self.statement,
            window.count,
            window.p50,
            window.p95,
            mean_ms=_mean(self.window),
            server_mean_ms=server.mean_ms if server is not None else None,
            client_slow=self.client_window.count,
        )

    def as_dict(self, server: ServerDelta | None = None) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "statement": self.statement,
            "calls": self.total.count,
            "slow": self.slow,
            "client_slow": self.client_slow,
            "total_ms": self.total.summary().as_dict(),
            "window_ms": self.window.summary().as_dict(),
            "client_mean_ms": _mean(self.window),
            "server_ms": server.as_dict() if server is not None else None,
        }


def _merge_into(merged: dict[str, MergedStatement], fp: str, data: Mapping[str, Any]) -> None:
    total = sketch_codec.decode(data["total"])
    window = sketch_codec.decode(data["window"])
    have = merged.get(fp)
    if have is None:
        have = merged[fp] = MergedStatement(fp, data["statement"], 0, total, window)
    else:
        have.total.merge(total)
        have.window.merge(window)
    have.slow += int(data["slow"])
    have.client_slow += int(data.get("client_slow", 0))  # absent from older workers
    if data.get("client_slow_window"):
        have.client_window.merge(sketch_codec.decode(data["client_slow_window"]))


def merge_statements(perfs: Iterable[Mapping[str, Any]]) -> dict[str, MergedStatement]:
    """Per-fingerprint sketches merged over ``perfs`` (each a ``QueryTracker.wire()``)."""
    merged: dict[str, MergedStatement] = {}
    for perf in perfs:
        for fp, data in perf["statements"].items():
            _merge_into(merged, fp, data)
    return merged


def overall(statements: Iterable[MergedStatement]) -> tuple[LatencySketch, LatencySketch]:
    """(total, window) sketches over every statement."""
    total, window = LatencySketch(), LatencySketch()
    for stmt in statements:
        total.merge(stmt.total)
        window.merge(stmt.window)
    return total, window


def server_mean(
    statements: Iterable[MergedStatement], server: Mapping[str, ServerDelta]
) -> float | None:
    """The server's mean per call over the statements it has figures for (``None``: none)."""
    calls = total = 0.0
    for stmt in statements:
        delta = server.get(stmt.fingerprint)
        if delta is not None:
            calls, total = calls + delta.calls, total + delta.total_ms
    return total / calls if calls else None


def performance_view(
    perfs: Sequence[Mapping[str, Any]],
    *,
    top: int = 10,
    recent_slow: int = 20,
    server: Mapping[str, ServerDelta] | None = None,
) -> dict[str, Any]:
    """Percentiles overall and per statement, the slowest statements and slow queries.

    ``server``: each statement's server figures over the window, shown beside its
    client figures.
    """
    statements = merge_statements(perfs)
    server = server or {}
    total, window = overall(statements.values())
    rows = sorted(
        (s.as_dict(server.get(fp)) for fp, s in statements.items()),
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
            "server_mean_ms": server_mean(statements.values(), server),
        },
        "slow_query_count": sum(int(p["slow_total"]) for p in perfs),
        "client_slow_count": sum(int(p.get("client_slow_total", 0)) for p in perfs),
        "slowest_statements": [  # the application's: the monitoring's own are left out
            {k: row[k] for k in ("fingerprint", "statement", "calls", "total_ms", "server_ms")}
            for row in [r for r in rows if not is_own(r["statement"])][:top]
        ],
        "statements": rows,
        "recent_slow_queries": slow[:recent_slow],
    }
