"""Baseline recording and degradation alerts, end to end on a real database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import text

from personal_assistant.database import session as db
from personal_assistant.monitoring.alerts import STATEMENT_REGRESSION
from personal_assistant.monitoring.baseline import load_baseline
from personal_assistant.monitoring.webhook import WebhookNotifier
from tests.monitoring.conftest import MonitoredApp

SLEEP = "SELECT pg_sleep($1)"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def run_sleeps(seconds: float, times: int) -> None:
    async with db.get_engine().connect() as conn:
        for _ in range(times):
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})


def sleep_alerts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in body["alerts"] if a["statement"] == SLEEP]


async def test_baseline_is_stored_and_a_regression_alerts_until_it_recovers(
    monitored_app: MonitoredApp,
) -> None:
    posted: list[dict[str, Any]] = []

    def hook(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    # A wide gap between fast (1 ms) and slow (80 ms), and a 20 ms floor, so that a
    # busy CI machine stretching the fast statements cannot fake or hide an alert.
    settings = {"perf_alert_min_samples": 10, "perf_alert_floor_ms": 20.0}
    async with monitored_app(token="alert-token", **settings) as (app, client):
        client.headers["Authorization"] = "Bearer alert-token"
        runtime = app.state.monitoring
        runtime.notifier = WebhookNotifier(
            "http://alerts.test/hook", transport=httpx.MockTransport(hook)
        )
        runtime.notifier.start()
        tracker = app.state.tracker
        assert tracker is not None
        tracker.clock = clock = FakeClock()

        await run_sleeps(0.001, 20)
        # The evaluation loop's round (every 10 s in service): the server's figures,
        # read on the tracker's clock, then cover the fast phase and the slow one apart.
        await runtime.judge.settle(tracker)
        recorded = (await client.post("/health/database/performance/baseline")).json()
        stored = await load_baseline(db.get_engine())
        (base,) = [b for b in stored.values() if b.statement == SLEEP]
        assert recorded["recorded"] >= 1 and base.calls == 20 and base.p95_ms < 20

        clock.now += 400  # the baseline's samples leave the rolling window
        await run_sleeps(0.08, 12)
        degraded = await client.get("/health/database/performance")
        metrics = (await client.get("/metrics")).text
        (alert,) = sleep_alerts(degraded.json())
        comparison = [
            c for c in degraded.json()["baseline"]["comparison"] if c["statement"] == SLEEP
        ]

        clock.now += 400
        await run_sleeps(0.001, 12)
        recovered = await client.get("/health/database/performance")
        for _ in range(100):
            if len(posted) >= 2:
                break
            await asyncio.sleep(0.02)

    assert degraded.status_code == 200 and degraded.json()["status"] == "warn"
    assert alert["kind"] == STATEMENT_REGRESSION and alert["observed_ms"] > 60
    assert comparison[0]["p95_ratio"] > 1.5
    assert f'pa_db_performance_alert_active{{fingerprint="{base.fingerprint}"' in metrics
    assert sleep_alerts(recovered.json()) == []
    assert [p["event"] for p in posted] == ["alert_raised", "alert_cleared"]
    assert all(p["fingerprint"] == base.fingerprint for p in posted)
