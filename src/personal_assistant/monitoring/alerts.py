"""Degradation alert rules, pure: live figures and baselines in, alerts out.

Two rules, both on rolling-window p95 so an alert clears by itself once the window no
longer holds the slow samples:

* a statement's p95 exceeds its baseline p95 times ``factor`` *and* an absolute floor
  (the floor stops a 0.2 ms → 0.4 ms blip from paging anyone);
* the overall p95 of every statement exceeds ``overall_p95_ms``.

:class:`AlertBook` remembers which alerts are active and reports transitions, so the
caller logs and posts each raise and each clear exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

STATEMENT_REGRESSION = "statement_p95_regression"
OVERALL_P95 = "overall_p95_high"


@dataclass(frozen=True)
class AlertRules:
    factor: float = 1.5
    floor_ms: float = 10.0
    overall_p95_ms: float = 100.0
    min_samples: int = 20


@dataclass(frozen=True)
class StatementFigures:
    """Rolling-window figures of one statement."""

    fingerprint: str
    statement: str
    count: int
    p50_ms: float
    p95_ms: float


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


def evaluate(
    statements: Iterable[StatementFigures],
    baselines: Mapping[str, Baseline],
    overall_p95_ms: float,
    overall_count: int,
    rules: AlertRules,
) -> dict[str, Alert]:
    """Every alert the figures call for, keyed by :attr:`Alert.key`."""
    found = [statement_alert(fig, baselines.get(fig.fingerprint), rules) for fig in statements]
    found.append(overall_alert(overall_p95_ms, overall_count, rules))
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
