"""``pa-db perf baseline`` / ``show`` against real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from personal_assistant.cli import perf
from personal_assistant.monitoring.redis_publish import SnapshotStore
from personal_assistant.monitoring.settings import get_monitoring_settings
from personal_assistant.monitoring.snapshot import local_snapshot
from personal_assistant.monitoring.tracker import QueryTracker

runner = CliRunner()


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_monitoring_settings.cache_clear()
    yield
    get_monitoring_settings.cache_clear()


async def publish(redis_url: str) -> None:
    tracker = QueryTracker(slow_query_ms=1e9)
    for i in range(30):
        tracker.record("SELECT * FROM users WHERE id = $1", 1.0 + i / 10)
    store = SnapshotStore(redis_url, prefix="pa:monitoring", ttl_s=30, timeout_s=1)
    try:
        await store.publish("w1", local_snapshot("w1", None, tracker))
    finally:
        await store.close()


@pytest.mark.usefixtures("fresh_settings")
def test_baseline_from_worker_snapshots_then_show(
    redis_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    asyncio.run(publish(redis_url))
    recorded = runner.invoke(perf.app, ["baseline", "--database-url", database_url])
    shown = runner.invoke(perf.app, ["show", "--database-url", database_url, "--json"])
    assert recorded.exit_code == 0, recorded.output
    (row,) = json.loads(shown.output)
    assert row["statement"] == "SELECT * FROM users WHERE id = $1"
    assert row["calls"] == 30 and row["p95_ms"] > row["p50_ms"]


@pytest.mark.usefixtures("fresh_settings")
def test_baseline_without_a_source_explains_what_to_pass(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = runner.invoke(perf.app, ["baseline", "--database-url", database_url])
    assert result.exit_code == 1
    assert "--service-url" in result.output
