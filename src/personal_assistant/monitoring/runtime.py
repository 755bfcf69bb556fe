"""What the health router keeps between requests, and its background loops.

One :class:`MonitoringRuntime` per app (created in the router's lifespan, after the
engine): it gathers snapshots (this worker's, or every worker's through Redis),
caches the stored baseline, keeps the alert book, times the health endpoints, and runs
two loops: publishing this worker's snapshot, and evaluating alerts. With Redis, one
worker at a time (the holder of a short lease) logs and posts alert transitions, so a
degradation pages once, not once per worker.

Each evaluation first judges the tracker's held slow statements (:mod:`.slow_judge`:
the database's time from ``pg_stat_statements`` against the event-loop lag, which it
measures all along), then evaluates the alerts with the same figures, so a client-side
slowness raises ``service_cpu_bound`` rather than a statement regression.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.latency import LatencySketch
from personal_assistant.database.pool_stats import PoolStats
from personal_assistant.monitoring import aggregate, alerts, loop_lag
from personal_assistant.monitoring.baseline import load_baseline
from personal_assistant.monitoring.budget import SingleFlight
from personal_assistant.monitoring.db_probe import SharedProbe
from personal_assistant.monitoring.errors import MonitoringError, failure_reason
from personal_assistant.monitoring.health import Check
from personal_assistant.monitoring.redis_publish import SnapshotStore
from personal_assistant.monitoring.sessions import SharedSessions
from personal_assistant.monitoring.settings import MonitoringSettings
from personal_assistant.monitoring.slow_judge import SlowJudge
from personal_assistant.monitoring.snapshot import local_snapshot, new_worker_id
from personal_assistant.monitoring.tracker import QueryTracker
from personal_assistant.monitoring.webhook import WebhookNotifier

logger = logging.getLogger(__name__)
alert_logger = logging.getLogger("personal_assistant.monitoring.alerts")


@dataclass(frozen=True)
class Gathered:
    """Snapshots to aggregate and a note on where they came from."""

    snapshots: list[dict[str, Any]]
    aggregation: dict[str, Any]

    @cached_property
    def pools(self) -> dict[str, PoolStats]:
        """Each worker's pool figures by worker id (decoded once; workers without one omitted)."""
        return {
            s["worker"]: PoolStats.from_wire(s["pool"]) for s in self.snapshots if s.get("pool")
        }

    @property
    def performances(self) -> list[dict[str, Any]]:
        return [s["performance"] for s in self.snapshots if s.get("performance")]

    @property
    def loop_lags(self) -> dict[str, dict[str, Any]]:
        """Each worker's event-loop lag (``LoopLagMonitor.wire()``) by worker id."""
        return {s["worker"]: s["loop_lag"] for s in self.snapshots if s.get("loop_lag")}


@dataclass
class MonitoringRuntime:
    settings: MonitoringSettings
    tracker: QueryTracker | None = None
    store: SnapshotStore | None = None
    notifier: WebhookNotifier | None = None
    worker_id: str = field(default_factory=new_worker_id)
    book: alerts.AlertBook = field(default_factory=alerts.AlertBook)
    health_durations: dict[str, LatencySketch] = field(default_factory=dict)
    leading: bool = True
    started: float = field(default_factory=time.monotonic)
    migrations_ok_until: float = float("-inf")
    #: Readiness's migration read, shared by concurrent requests (see ``budget``).
    migrations_read: SingleFlight[Check] = field(default_factory=SingleFlight)
    probe: SharedProbe = field(default_factory=lambda: SharedProbe(0.0))
    sessions: SharedSessions = field(default_factory=lambda: SharedSessions(0.0, 60.0))
    judge: SlowJudge = field(default_factory=SlowJudge)
    _baseline: dict[str, alerts.Baseline] = field(default_factory=dict)
    _baseline_at: float = float("-inf")
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls, settings: MonitoringSettings, *, tracker: QueryTracker | None = None
    ) -> MonitoringRuntime:
        store = None
        if settings.redis_url is not None:
            store = SnapshotStore(
                settings.redis_url.get_secret_value(),
                prefix=settings.redis_key_prefix,
                ttl_s=settings.worker_snapshot_ttl_s,
                timeout_s=settings.redis_timeout,
            )
        notifier = (
            WebhookNotifier(settings.alert_webhook_url) if settings.alert_webhook_url else None
        )
        return cls(
            settings=settings,
            tracker=tracker,
            store=store,
            notifier=notifier,
            leading=store is None,
            probe=SharedProbe(settings.health_db_cache_s),
            sessions=SharedSessions(settings.health_db_cache_s, settings.health_long_running_s),
            judge=SlowJudge.for_window(settings.perf_window_s, settings.health_db_timeout),
        )

    @property
    def rules(self) -> alerts.AlertRules:
        s = self.settings
        return alerts.AlertRules(
            factor=s.perf_alert_factor,
            floor_ms=s.perf_alert_floor_ms,
            overall_p95_ms=s.perf_alert_overall_p95_ms,
            min_samples=s.perf_alert_min_samples,
        )

    # -- gathering -------------------------------------------------------------------
    def local(self) -> dict[str, Any]:
        """This worker's snapshot (empty parts when the engine is not up)."""
        try:
            collector = db.get_stats_collector()
        except DatabaseError:
            collector = None
        snapshot = local_snapshot(self.worker_id, collector, self.tracker if collector else None)
        return {**snapshot, "loop_lag": self.judge.loop_lag.wire()}

    async def gather(self) -> Gathered:
        """Every live worker's snapshot through Redis, or this worker's alone."""
        mine = self.local()
        if self.store is None:
            return Gathered([mine], {"scope": "process", "workers": 1})
        try:
            await self.store.publish(self.worker_id, mine)
            others = [s for s in await self.store.collect() if s["worker"] != self.worker_id]
        except MonitoringError as exc:
            note = {
                "scope": "process",
                "workers": 1,
                "warning": "redis unavailable, figures are this process only "
                f"({failure_reason(exc)})",
            }
            return Gathered([mine], note)
        return Gathered([mine, *others], {"scope": "service", "workers": 1 + len(others)})

    # -- baseline and alerts -----------------------------------------------------------
    async def baseline(self, *, refresh: bool = False) -> dict[str, alerts.Baseline]:
        """The stored baseline, re-read at most once per evaluation interval."""
        due = time.monotonic() - self._baseline_at > self.settings.perf_eval_interval_s
        if refresh or due:
            try:
                with wrap_db_errors("loading the performance baseline"):
                    async with asyncio.timeout(self.settings.health_db_timeout):
                        self._baseline = await load_baseline(db.get_engine())
                self._baseline_at = time.monotonic()
            except DatabaseError as exc:
                logger.warning("could not load the performance baseline: %s", failure_reason(exc))
        return self._baseline

    def set_baseline(self, baseline: dict[str, alerts.Baseline]) -> None:
        self._baseline, self._baseline_at = baseline, time.monotonic()

    def latency_context(
        self, statements: Mapping[str, aggregate.MergedStatement], gathered: Gathered
    ) -> alerts.LatencyContext:
        """The loop lag (every worker's) and server figures that judge client times."""
        _, window = aggregate.overall(statements.values())
        slow_ms = [p["slow_query_ms"] for p in gathered.performances]
        server = self.judge.server_times
        return alerts.LatencyContext(
            loop_lag=loop_lag.merged_lag(list(gathered.loop_lags.values())).summary(),
            slow_query_ms=float(slow_ms[0]) if slow_ms else 0.0,
            overall_mean_ms=window.total / window.count if window.count else None,
            overall_server_mean_ms=aggregate.server_mean(statements.values(), server.window()),
            server_note=server.reason,
        )

    def check_alerts(
        self,
        statements: Mapping[str, aggregate.MergedStatement],
        baseline: Mapping[str, Any],
        gathered: Gathered | None = None,
    ) -> tuple[alerts.ActiveAlert, ...]:
        """Evaluate the rules, record transitions, and report them when leading.

        With ``gathered``, client-side slowness is told apart from the database's.
        """
        _, window = aggregate.overall(statements.values())
        server = self.judge.server_times.window()
        current = alerts.evaluate(
            (s.figures(server.get(fp)) for fp, s in statements.items()),
            baseline,
            window.quantile(0.95),
            window.count,
            self.rules,
            self.latency_context(statements, gathered) if gathered is not None else None,
        )
        changes = self.book.update(current, time.time())
        if self.leading:
            self._report(changes)
        return self.book.active

    def _report(self, changes: alerts.Transitions) -> None:
        for state, group in (("raised", changes.raised), ("cleared", changes.cleared)):
            for alert in group:
                payload = {"event": f"alert_{state}", "at": time.time(), **alert.as_dict()}
                log = alert_logger.warning if state == "raised" else alert_logger.info
                log(json.dumps(payload))
                if self.notifier is not None:
                    self.notifier.notify(payload)

    def observe_health(self, endpoint: str, seconds: float) -> None:
        self.health_durations.setdefault(endpoint, LatencySketch()).add(seconds * 1000)

    # -- background loops --------------------------------------------------------------
    async def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        if self.store is not None:
            self._tasks.append(asyncio.create_task(self._publish_loop(), name="pa-publish"))
        self.judge.start(self.tracker)
        self._tasks.append(asyncio.create_task(self._evaluate_loop(), name="pa-alerts"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.judge.stop(self.tracker)
        if self.store is not None:
            with contextlib.suppress(MonitoringError):
                await self.store.remove(self.worker_id)
            await self.store.close()
        if self.notifier is not None:
            await self.notifier.stop()

    async def _publish_loop(self) -> None:
        assert self.store is not None
        while True:
            with contextlib.suppress(MonitoringError):
                await self.store.publish(self.worker_id, self.local())
            await asyncio.sleep(self.settings.worker_publish_interval_s)

    async def evaluate_once(self) -> tuple[alerts.ActiveAlert, ...]:
        """One evaluation round over the service-wide figures (the loop's body)."""
        if self.store is not None:
            try:
                lease = self.settings.perf_eval_interval_s * 3
                self.leading = await self.store.try_lead(self.worker_id, lease)
            except MonitoringError:
                self.leading = True  # alone without Redis: better twice than never
        await self.judge.settle(self.tracker)
        gathered = await self.gather()
        statements = aggregate.merge_statements(gathered.performances)
        return self.check_alerts(statements, await self.baseline(), gathered)

    async def _evaluate_loop(self) -> None:
        await self.judge.settle(self.tracker)  # the first snapshot: what deltas start from
        while True:
            await asyncio.sleep(self.settings.perf_eval_interval_s)
            await self.evaluate_once()


def statements_of(gathered: Gathered) -> dict[str, aggregate.MergedStatement]:
    return aggregate.merge_statements(gathered.performances)


def active_alerts(active: Sequence[alerts.ActiveAlert]) -> list[dict[str, Any]]:
    return [a.as_dict() for a in active]
