"""Degradation alert rules, pure: live figures and baselines in, alerts out.

Two rules, both on rolling-window p95 so an alert clears by itself once the window no
longer holds the slow samples:

* a statement's p95 exceeds its baseline p95 times ``factor`` *and* an absolute floor
  (the floor stops a 0.2 ms → 0.4 ms blip from paging anyone);
* the overall p95 of every statement exceeds ``overall_p95_ms``.

Both are client times. Given a :class:`LatencyContext` (the server's mean per call from
``pg_stat_statements`` and the event-loop lag), a figure counts against the database
only when the database spent the time: its server mean is at least
:data:`SERVER_SHARE` of the client mean, or, with the server time unknown, the event
loop kept up. Otherwise the slowness is this service's, and one service-wide alert
says so instead:

* ``service_cpu_bound``: the event-loop lag p99 is above ``loop_lag_p99_ms`` ("the
  service is CPU-bound (event-loop lag p99 180 ms), … the database answered in 0.11 ms");
* ``latency_outside_database``: statements are slow on the client, the database answered
  fast and the loop kept up: the time went to the network or the driver.

Either is raised by a client-side p95 figure, by ``min_samples`` client-slow calls in
the window (see :mod:`.attribution`), or (``service_cpu_bound``) by the lag alone.

:class:`AlertBook` remembers which alerts are active and reports transitions, so the
caller logs and posts each raise and each clear exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from personal_assistant.database.latency import LatencySummary

STATEMENT_REGRESSION = "statement_p95_regression"
OVERALL_P95 = "overall_p95_high"
CPU_BOUND = "service_cpu_bound"
OUTSIDE_DATABASE = "latency_outside_database"
#: Server mean / client mean below this: the client time is not the database's.
SERVER_SHARE = 0.5


@dataclass(frozen=True)
class AlertRules:
    factor: float = 1.5
    floor_ms: float = 10.0
    overall_p95_ms: float = 100.0
    min_samples: int = 20
    #: Event-loop lag p99 above this: the service is CPU-bound.
    loop_lag_p99_ms: float = 50.0


@dataclass(frozen=True)
class StatementFigures:
    """Rolling-window figures of one statement."""

    fingerprint: str
    statement: str
    count: int
    p50_ms: float
    p95_ms: float
    #: Client mean (``None``: not known).
    mean_ms: float | None = None
    #: The server's mean per call from pg_stat_statements (``None``: unknown).
    server_mean_ms: float | None = None
    #: Calls slow on the client that the database answered fast.
    client_slow: int = 0


@dataclass(frozen=True)
class LatencyContext:
    """What tells the database's share of the client time apart from the service's."""

    loop_lag: LatencySummary
    slow_query_ms: float
    #: Over every statement: client mean, and server mean per call (``None``: unknown).
    overall_mean_ms: float | None = None
    overall_server_mean_ms: float | None = None
    #: Why server times are unknown, when they are.
    server_note: str | None = None


@dataclass(frozen=True)
class Baseline:
    """A statement's stored reference figures."""

    fingerprint: str
    statement: str
    calls: int
    p50_ms: float
    p95_ms: float
    recorded_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str
    observed_ms: float
    threshold_ms: float
    message: str
    fingerprint: str | None = None
    statement: str | None = None
    baseline_p95_ms: float | None = None
    server_mean_ms: float | None = None
    loop_lag_p99_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def statement_alert(
    fig: StatementFigures, base: Baseline | None, rules: AlertRules
) -> Alert | None:
    """The regression alert for ``fig``, or ``None`` when it is within bounds."""
    if base is None or fig.count < rules.min_samples:
        return None
    threshold = max(base.p95_ms * rules.factor, rules.floor_ms)
    if fig.p95_ms <= threshold:
        return None
    return Alert(
        key=f"{STATEMENT_REGRESSION}:{fig.fingerprint}",
        kind=STATEMENT_REGRESSION,
        observed_ms=fig.p95_ms,
        threshold_ms=round(threshold, 3),
        fingerprint=fig.fingerprint,
        statement=fig.statement,
        baseline_p95_ms=base.p95_ms,
        message=(
            f"p95 {fig.p95_ms:g} ms is above {rules.factor:g}x its baseline "
            f"({base.p95_ms:g} ms) and above {rules.floor_ms:g} ms"
        ),
    )


def overall_alert(p95_ms: float, count: int, rules: AlertRules) -> Alert | None:
    if count < rules.min_samples or p95_ms <= rules.overall_p95_ms:
        return None
    return Alert(
        key=OVERALL_P95,
        kind=OVERALL_P95,
        observed_ms=p95_ms,
        threshold_ms=rules.overall_p95_ms,
        message=f"overall query p95 {p95_ms:g} ms is above {rules.overall_p95_ms:g} ms",
    )


def lag_high(ctx: LatencyContext, rules: AlertRules, *, alone: bool = False) -> bool:
    """Whether the event loop lagged past ``loop_lag_p99_ms`` in the window.

    ``alone``: to raise an alert by itself the lag needs ``min_samples`` wake-ups. To
    explain slow statements it needs none: a loop blocked 300 ms at a time wakes the
    monitor only once per block, so a CPU-bound spell leaves few samples.
    """
    lag = ctx.loop_lag
    enough = lag.count >= (rules.min_samples if alone else 1)
    return enough and lag.p99 > rules.loop_lag_p99_ms


def client_side(
    mean_ms: float | None, server_mean_ms: float | None, ctx: LatencyContext, rules: AlertRules
) -> bool:
    """Whether a client figure with this client mean is the service's, not the database's."""
    if server_mean_ms is None or not mean_ms:
        return lag_high(ctx, rules)
    return server_mean_ms < SERVER_SHARE * mean_ms


def _ms(value: float | None, note: str | None) -> str:
    if value is None:
        return f"an unknown time ({note or 'no server figures for it'})"
    return f"{value:.3g} ms (mean per call)"


def _on_the_server(alert: Alert, fig: StatementFigures | None, ctx: LatencyContext) -> Alert:
    """``alert`` with the server's and the loop's figures: the database was slow."""
    server = fig.server_mean_ms if fig is not None else ctx.overall_server_mean_ms
    return dataclasses.replace(
        alert,
        server_mean_ms=server,
        loop_lag_p99_ms=ctx.loop_lag.p99,
        message=f"{alert.message}; the database: {_ms(server, ctx.server_note)}",
    )


def service_alert(
    statements: Sequence[StatementFigures],
    evidence: Sequence[StatementFigures],
    ctx: LatencyContext,
    rules: AlertRules,
    *,
    overall: bool = False,
) -> Alert | None:
    """The service-wide alert for slowness that is not the database's, or ``None``.

    ``evidence``: statements whose p95 alert turned out client-side; ``overall``: the
    overall p95 alert did.
    """
    slowed = [f for f in statements if f.client_slow]
    calls = sum(f.client_slow for f in slowed)
    cpu = lag_high(ctx, rules)
    if not (lag_high(ctx, rules, alone=True) or evidence or overall or calls >= rules.min_samples):
        return None
    lag = ctx.loop_lag.p99
    if cpu:
        head = f"the service is CPU-bound (event-loop lag p99 {lag:g} ms)"
    else:
        head = f"statements are slow outside the database (event-loop lag p99 {lag:g} ms)"
    worst = max([*evidence, *slowed], key=lambda f: (f.client_slow, f.p95_ms), default=None)
    parts = [head]
    if worst is not None:
        parts.append(
            f"{worst.statement} took {worst.p95_ms:g} ms (p95) on the client, "
            f"the database answered in {_ms(worst.server_mean_ms, ctx.server_note)}"
        )
    if calls:
        parts.append(f"{calls} calls over {ctx.slow_query_ms:g} ms were not slow queries")
    if not cpu:
        parts.append("look at the network and the driver")
    return Alert(
        key=CPU_BOUND if cpu else OUTSIDE_DATABASE,
        kind=CPU_BOUND if cpu else OUTSIDE_DATABASE,
        observed_ms=lag if cpu else (worst.p95_ms if worst else 0.0),
        threshold_ms=rules.loop_lag_p99_ms if cpu else ctx.slow_query_ms,
        message="; ".join(parts),
        fingerprint=worst.fingerprint if worst else None,
        statement=worst.statement if worst else None,
        server_mean_ms=worst.server_mean_ms if worst else None,
        loop_lag_p99_ms=lag,
    )


def evaluate(
    statements: Iterable[StatementFigures],
    baselines: Mapping[str, Baseline],
    overall_p95_ms: float,
    overall_count: int,
    rules: AlertRules,
    context: LatencyContext | None = None,
) -> dict[str, Alert]:
    """Every alert the figures call for, keyed by :attr:`Alert.key`.

    With ``context``, a p95 alert the database is not to blame for becomes evidence for
    :func:`service_alert` instead (see the module docstring).
    """
    figs = list(statements)
    found: list[Alert | None] = []
    evidence = []
    for fig in figs:
        alert = statement_alert(fig, baselines.get(fig.fingerprint), rules)
        if alert is None or context is None:
            found.append(alert)
        elif client_side(fig.mean_ms, fig.server_mean_ms, context, rules):
            evidence.append(fig)
        else:
            found.append(_on_the_server(alert, fig, context))
    overall = overall_alert(overall_p95_ms, overall_count, rules)
    overall_client = False
    if overall is not None and context is not None:
        ctx = context
        overall_client = client_side(ctx.overall_mean_ms, ctx.overall_server_mean_ms, ctx, rules)
        overall = None if overall_client else _on_the_server(overall, None, ctx)
    found.append(overall)
    if context is not None:
        found.append(service_alert(figs, evidence, context, rules, overall=overall_client))
    return {alert.key: alert for alert in found if alert is not None}


def compare(
    statements: Iterable[StatementFigures], baselines: Mapping[str, Baseline]
) -> list[dict[str, Any]]:
    """Live p50/p95 next to the baseline, with the ratio, for statements that have one."""
    rows = []
    for fig in statements:
        base = baselines.get(fig.fingerprint)
        if base is None:
            continue
        ratio = fig.p95_ms / base.p95_ms if base.p95_ms > 0 else None
        rows.append(
            {
                "fingerprint": fig.fingerprint,
                "statement": fig.statement,
                "live_p50_ms": fig.p50_ms,
                "live_p95_ms": fig.p95_ms,
                "baseline_p50_ms": base.p50_ms,
                "baseline_p95_ms": base.p95_ms,
                "p95_ratio": round(ratio, 3) if ratio is not None else None,
            }
        )
    return rows


@dataclass(frozen=True)
class ActiveAlert:
    alert: Alert
    since: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.alert.as_dict(), "since": self.since}


@dataclass(frozen=True)
class Transitions:
    raised: tuple[Alert, ...]
    cleared: tuple[Alert, ...]


class AlertBook:
    """Active alerts and when each was raised (``since``: a wall-clock timestamp)."""

    def __init__(self) -> None:
        self._active: dict[str, ActiveAlert] = {}

    @property
    def active(self) -> tuple[ActiveAlert, ...]:
        return tuple(self._active.values())

    def update(self, current: Mapping[str, Alert], now: float) -> Transitions:
        raised = tuple(a for k, a in current.items() if k not in self._active)
        cleared = tuple(a.alert for k, a in self._active.items() if k not in current)
        self._active = {
            key: ActiveAlert(alert, self._active[key].since if key in self._active else now)
            for key, alert in current.items()
        }
        return Transitions(raised=raised, cleared=cleared)
