"""The Prometheus exposition: conventional names, bounded label cardinality."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from personal_assistant.database import session as db
from personal_assistant.monitoring.settings import get_monitoring_settings
from tests.monitoring.conftest import MonitoredApp


@pytest.fixture
def three_fingerprints(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PERF_MAX_FINGERPRINTS", "3")
    get_monitoring_settings.cache_clear()
    yield
    get_monitoring_settings.cache_clear()


async def test_metrics_use_the_opentelemetry_names(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        await client.get("/health/database")
        response = await client.get("/metrics")
    assert response.status_code == 200
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "db_client_connection_count",
        "db_client_connection_max",
        "db_client_connection_timeouts",
        "db_client_connection_wait_time_seconds",
        "db_client_connection_use_time_seconds",
        "db_client_connection_create_time_seconds",
        "db_client_connection_pending_requests",
        "db_client_operation_duration_seconds",
        "pa_db_slow_queries",
        "pa_health_check_duration_seconds",
    } <= names
    assert 'db_client_connection_state="used"' in response.text


@pytest.mark.usefixtures("three_fingerprints")
async def test_fingerprint_labels_are_bounded(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        async with db.get_engine().connect() as conn:
            for table in ("pg_class", "pg_type", "pg_proc", "pg_namespace", "pg_attribute"):
                await conn.execute(text(f"SELECT count(*) FROM {table}"))
        response = await client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    labels = {
        s.labels["fingerprint"] for s in families["db_client_operation_duration_seconds"].samples
    }
    assert len(labels) == 4 and "other" in labels
