"""The service starts before its database and turns ready without a restart.

Under Kubernetes an app that exits when its database is unreachable at start-up ends
in CrashLoopBackOff. Here a real uvicorn process is started against a stopped server,
then against a server whose database does not exist yet: liveness answers 200 at once,
readiness 503 with the reason, and once the database is there the background attempts
reach it, apply the migrations and readiness turns 200, with the same process.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg

from tests.fixtures.postgres import PostgresCluster
from tests.reliability.evidence import EVIDENCE
from tests.reliability.served import ServedApp, app_env, serve


def wait_ready(app: ServedApp, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"{app.base_url}/health/ready", timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_the_app_serves_before_its_database_exists_and_turns_ready(
    own_cluster: PostgresCluster, workdir: Path
) -> None:
    own_cluster.stop()
    env = app_env(
        own_cluster.url("late_app"),
        pa_auto_migrate="true",
        database_connect_retries="0",
        database_connect_retry_initial_delay="0.1",
        database_connect_retry_max_delay="0.5",
    )
    app = serve(workdir, env, ready_timeout_s=20)
    try:
        assert httpx.get(f"{app.base_url}/health", timeout=5).status_code == 200
        down = httpx.get(f"{app.base_url}/health/ready", timeout=5)
        EVIDENCE.add("body:/health/ready", down.text)
        assert down.status_code == 503
        assert "database not reached since start-up" in down.json()["output"]

        own_cluster.start()  # the server is back, but the database is not there yet
        time.sleep(1.5)
        missing = httpx.get(f"{app.base_url}/health/ready", timeout=5)
        assert missing.status_code == 503, missing.text
        with psycopg.connect(own_cluster.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE late_app")

        ready = wait_ready(app, timeout_s=30)
        assert ready.status_code == 200, ready.text
        assert app.process.poll() is None  # the same process, never restarted
        assert "applied" in app.log() and "database reached after" in app.log()
    finally:
        app.stop()
