"""Prometheus exposition built at scrape time from the live figures.

No metric objects live in the global registry: each scrape builds a fresh
``CollectorRegistry`` around a :class:`FiguresCollector` holding figures gathered just
before (possibly from every worker through Redis), so several apps in one process never
collide and gauges are never stale. Histograms are read from the DDSketches' bins.

Names follow OpenTelemetry's database-client semantic conventions where one exists,
translated as Prometheus expects them (``promtool check metrics`` passes): dots become
underscores, seconds are the unit suffix, counters end in ``_total``, and a gauge never
ends in ``_count``, ``_sum`` or ``_bucket`` (those belong to histograms), so
``db.client.connection.count`` is exposed as ``db_client_connections``. The rest are
prefixed ``pa_``. The opaque ``fingerprint`` labels join to their statements through
``db_client_statement_info``. prometheus_client's ``process_*`` and ``python_*``
collectors are added to each scrape's registry (this worker's process only).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from personal_assistant.database.latency import LatencySketch
from personal_assistant.database.pool_stats import PoolStats
from personal_assistant.monitoring import sketch_codec
from personal_assistant.monitoring.aggregate import MergedStatement
from personal_assistant.monitoring.sessions import SessionsReading

#: Bucket bounds in seconds (as OpenTelemetry recommends for db.client.*.duration).
BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
#: Longest statement text in ``db_client_statement_info`` (the fingerprint is the key).
INFO_TEXT = 120
#: prometheus_client's own collectors of this process, added to every scrape's registry.
PROCESS_COLLECTORS = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)


@dataclass(frozen=True)
class Figures:
    """Everything one scrape exposes."""

    pool: PoolStats | None
    statements: Mapping[str, MergedStatement]
    slow_total: int
    alerts: Sequence[Mapping[str, Any]]
    health_durations: Mapping[str, LatencySketch]
    workers: int
    pool_name: str = "default"
    #: The database's blocked and long-running sessions (``None``: not read).
    sessions: SessionsReading | None = None
    #: This worker's latest probe: (passed, age in seconds); ``None`` before the first.
    probe: tuple[bool, float] | None = None


def _histogram(family: HistogramMetricFamily, labels: list[str], sketch: LatencySketch) -> None:
    """Add ``sketch`` (milliseconds) to ``family`` as a seconds histogram."""
    counts = sketch_codec.cumulative_buckets(sketch, [b * 1000 for b in BUCKETS_S])
    buckets = [(str(b), float(c)) for b, c in zip(BUCKETS_S, counts, strict=False)]
    buckets.append(("+Inf", float(counts[-1])))
    family.add_metric(labels, buckets, sketch_codec.sketch_sum(sketch) / 1000)


class FiguresCollector(Collector):
    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        yield from self._pool()
        yield from self._queries()
        yield from self._service()
        yield from self._sessions()
        yield from self._probe()

    def _pool(self) -> Iterator[Metric]:
        f = self.figures
        pool = f.pool
        if pool is None:
            return
        name = [f.pool_name]
        count = GaugeMetricFamily(
            "db_client_connections",
            "Connections currently in the pool, by state.",
            labels=["db_client_connection_pool_name", "db_client_connection_state"],
        )
        count.add_metric([f.pool_name, "idle"], float(pool.checked_in))
        count.add_metric([f.pool_name, "used"], float(pool.checked_out))
        yield count
        for metric, doc, value in (
            ("db_client_connection_max", "Most connections the pool may open.", pool.capacity),
            ("db_client_connection_idle_max", "Most idle connections kept.", pool.pool_size),
        ):
            gauge = GaugeMetricFamily(metric, doc, labels=["db_client_connection_pool_name"])
            gauge.add_metric(name, float(value))
            yield gauge
        timeouts = CounterMetricFamily(
            "db_client_connection_timeouts",
            "Checkouts that timed out waiting for a connection.",
            labels=["db_client_connection_pool_name"],
        )
        timeouts.add_metric(name, float(pool.timeouts))
        yield timeouts
        pending = GaugeMetricFamily(
            "db_client_connection_pending_requests",
            "Checkouts waiting for a free connection right now.",
            labels=["db_client_connection_pool_name"],
        )
        pending.add_metric(name, float(pool.pending_requests))
        yield pending
        for sketch, metric, doc in (
            (
                pool.checkout_wait,
                "db_client_connection_wait_time_seconds",
                "Time to obtain a connection.",
            ),
            (
                pool.connection_use,
                "db_client_connection_use_time_seconds",
                "Time a connection was held.",
            ),
            (
                pool.connection_create,
                "db_client_connection_create_time_seconds",
                "Time to open a new connection.",
            ),
        ):
            hist = HistogramMetricFamily(
                metric, doc, labels=["db_client_connection_pool_name"], unit=""
            )
            _histogram(hist, name, sketch)
            yield hist

    def _queries(self) -> Iterator[Metric]:
        f = self.figures
        duration = HistogramMetricFamily(
            "db_client_operation_duration_seconds",
            "Statement duration by fingerprint (at most PERF_MAX_FINGERPRINTS, then 'other').",
            labels=["db_system_name", "fingerprint"],
        )
        slow = CounterMetricFamily(
            "pa_db_slow_queries",
            "Statements slower than DATABASE_SLOW_QUERY_MS.",
            labels=["fingerprint"],
        )
        info = InfoMetricFamily(
            "db_client_statement",
            "The normalized statement behind each fingerprint (shortened).",
            labels=["fingerprint", "statement"],
        )
        for fp, stmt in f.statements.items():
            _histogram(duration, ["postgresql", fp], stmt.total)
            slow.add_metric([fp], float(stmt.slow))
            info.add_metric([fp, _shortened(stmt.statement)], {})
        yield duration
        yield slow
        yield info
        total = CounterMetricFamily("pa_db_slow_queries_all", "Slow statements, all kinds.")
        total.add_metric([], float(f.slow_total))
        yield total

    def _service(self) -> Iterator[Metric]:
        f = self.figures
        alerts = GaugeMetricFamily(
            "pa_db_performance_alert_active",
            "1 while a degradation alert is active.",
            labels=["kind", "fingerprint"],
        )
        for alert in f.alerts:
            alerts.add_metric([str(alert["kind"]), str(alert.get("fingerprint") or "")], 1.0)
        yield alerts
        health = HistogramMetricFamily(
            "pa_health_check_duration_seconds",
            "Time the health endpoints took to answer.",
            labels=["endpoint"],
        )
        for endpoint, sketch in f.health_durations.items():
            _histogram(health, [endpoint], sketch)
        yield health
        workers = GaugeMetricFamily("pa_monitoring_workers", "Worker snapshots aggregated.")
        workers.add_metric([], float(f.workers))
        yield workers

    def _sessions(self) -> Iterator[Metric]:
        """Database-wide figures: the same from every worker, so never summed."""
        reading = self.figures.sessions
        if reading is None:
            return
        for metric, doc, value in (
            (
                "pa_db_blocked_sessions",
                "Sessions of this database waiting on a lock right now.",
                len(reading.blocked),
            ),
            (
                "pa_db_lock_wait_max_seconds",
                "Longest current lock wait among this database's sessions.",
                reading.longest_wait_s,
            ),
            (
                "pa_db_long_running_sessions",
                "Transactions open longer than HEALTH_LONG_RUNNING_S, not waiting on a lock.",
                len(reading.long_running),
            ),
        ):
            gauge = GaugeMetricFamily(metric, doc)
            gauge.add_metric([], float(value))
            yield gauge

    def _probe(self) -> Iterator[Metric]:
        """This worker's latest probe, as taken by the health endpoints (no probe here)."""
        last = self.figures.probe
        up = GaugeMetricFamily("pa_db_up", "1 if the latest database probe passed, 0 if it failed.")
        age = GaugeMetricFamily(
            "pa_db_probe_age_seconds", "Seconds since the latest database probe ended."
        )
        if last is not None:
            up.add_metric([], 1.0 if last[0] else 0.0)
            age.add_metric([], round(last[1], 3))
        yield up
        yield age


def _shortened(statement: str) -> str:
    return statement if len(statement) <= INFO_TEXT else statement[: INFO_TEXT - 1] + "…"


def render(figures: Figures) -> bytes:
    """The text exposition format for ``figures``, with this process's collectors.

    A fresh registry per scrape, so the process collectors are registered once per
    scrape whatever the number of apps in the process.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures))
    for collector in PROCESS_COLLECTORS:
        registry.register(collector)
    return generate_latest(registry)
