"""The Prometheus exposition: conventional names, bounded label cardinality, promtool."""

from __future__ import annotations

import asyncio
import shutil
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from personal_assistant.database import session as db
from personal_assistant.monitoring.settings import get_monitoring_settings
from personal_assistant.monitoring.tracker import QueryTracker
from tests.fixtures.postgres import require
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
        "db_client_connections",
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


def families(exposition: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(exposition)
    }


async def promtool_check(promtool: str, exposition: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        promtool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    out, _ = await proc.communicate(exposition.encode())
    return proc.returncode or 0, out.decode()


async def test_promtool_finds_nothing_to_complain_about(monitored_app: MonitoredApp) -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool not installed (Debian: apt-get install prometheus)")
    assert promtool is not None
    async with monitored_app(slow_query_ms=0) as (_, client):
        async with db.get_engine().connect() as conn:  # a label value to escape
            await conn.execute(text(r'SELECT pg_sleep(0.01) AS "back\slash ""quoted"""'))
        await client.get("/health/database")
        await client.get("/health/ready")
        await client.get("/health/database/performance")
        exposition = (await client.get("/metrics")).text
    names = families(exposition)
    every_kind = {"db_client_statement_info", "pa_db_up", "process_cpu_seconds", "python_info"}
    assert every_kind <= set(names)
    assert any('\\"quoted\\"' in line for line in exposition.splitlines())
    returncode, output = await promtool_check(promtool, exposition)
    assert returncode == 0, output


async def test_fingerprints_join_to_their_statements(monitored_app: MonitoredApp) -> None:
    async with monitored_app() as (_, client):
        async with db.get_engine().connect() as conn:
            await conn.execute(text("SELECT relname FROM pg_class WHERE relname = 'users'"))
        exposition = (await client.get("/metrics")).text
    names = families(exposition)
    statements = {s[1]["fingerprint"]: s[1]["statement"] for s in names["db_client_statement_info"]}
    durations = {s[1]["fingerprint"] for s in names["db_client_operation_duration_seconds"]}
    assert durations == set(statements)
    assert "SELECT relname FROM pg_class WHERE relname = $1" in statements.values()
    assert all(s[2] == 1.0 for s in names["db_client_statement_info"])


async def test_the_database_up_gauge_follows_the_latest_probe(
    monitored_app: MonitoredApp,
) -> None:
    async with monitored_app() as (_, client):
        before = families((await client.get("/metrics")).text)
        await client.get("/health/database")
        after = families((await client.get("/metrics")).text)
    assert before["pa_db_up"] == []  # no probe yet: no figure rather than a guess
    assert after["pa_db_up"] == [("pa_db_up", {}, 1.0)]
    [(_, _, age)] = after["pa_db_probe_age_seconds"]
    assert 0 <= age < 30


async def test_several_apps_in_one_process_each_expose_the_process_collectors(
    monitored_app: MonitoredApp,
) -> None:
    for _ in range(2):  # the second app must not fail on a duplicate registration
        async with monitored_app() as (_, client):
            first = families((await client.get("/metrics")).text)
            second = families((await client.get("/metrics")).text)
        for names in (first, second):
            assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= set(
                names
            )
            assert "python_gc_objects_collected" in names


def test_long_statements_are_shortened_in_the_info_metric() -> None:
    from personal_assistant.monitoring import aggregate
    from personal_assistant.monitoring.metrics import INFO_TEXT, Figures, render

    tracker = QueryTracker()
    tracker.record("SELECT " + ", ".join(f"column_{i}" for i in range(60)) + " FROM t", 1.0)
    statements = aggregate.merge_statements([tracker.wire()])
    exposition = render(Figures(None, statements, 0, [], {}, 1)).decode()
    [(_, labels, _)] = families(exposition)["db_client_statement_info"]
    assert len(labels["statement"]) == INFO_TEXT and labels["statement"].endswith("…")
