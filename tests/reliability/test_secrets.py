"""The database password never appears in a log line, an error or a response body.

Every URL this package configures carries :data:`PASSWORD` (the test servers use trust
authentication, so it is accepted and ignored). Whatever the suite produced is in
:data:`EVIDENCE`: the served apps' DEBUG logs, in-process log records, response
bodies, CLI output and caught errors. This module runs last (see ``conftest.py``) and
first adds the paths most likely to leak: a start-up against an unreachable server, CLI
errors, and every endpoint of the schema.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.postgres import free_port
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE, PASSWORD, with_password
from tests.reliability.served import app_env, serve

TOKEN = "secrets-test-token"


def unreachable_url() -> str:
    return f"postgresql://app@127.0.0.1:{free_port()}/app"


def test_start_up_against_an_unreachable_server_does_not_reveal_it(workdir: Path) -> None:
    env = app_env(with_password(unreachable_url()), database_connect_retries="1",
                  database_connect_retry_initial_delay="0.05")  # fmt: skip
    app = serve(workdir, env, ready_timeout_s=20)  # serves anyway: readiness says why
    try:
        ready = httpx.get(f"{app.base_url}/health/ready", timeout=5)
        time.sleep(0.5)  # a background attempt or two, logged
    finally:
        app.stop()
    EVIDENCE.add("startup:unreachable", app.log() + ready.text)
    assert ready.status_code == 503
    assert "database not reached since start-up: cannot connect" in ready.text
    assert "could not connect to postgresql+asyncpg://app:***@127.0.0.1" in app.log()


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "status"],
        ["migrate", "up"],
        ["perf", "show"],
        ["optimize", "--json"],
    ],
)
def test_cli_errors_do_not_reveal_it(args: list[str]) -> None:
    url = with_password(unreachable_url())
    result = subprocess.run(
        [sys.executable, "-m", "personal_assistant.cli.main", *args, "--database-url", url],
        capture_output=True, text=True, timeout=60,
        env=app_env(url, database_connect_retries="0"),
    )  # fmt: skip
    output = result.stdout + result.stderr
    EVIDENCE.add(f"cli:{' '.join(args)}", output)
    assert result.returncode == 1 and "could not connect to" in output


async def test_no_endpoint_reveals_it(served: Serve, database_url: str) -> None:
    app = served(database_url, health_token=TOKEN, pa_auto_migrate="true", pa_demo_data="true")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        schema = (await client.get("/openapi.json")).json()
        paths = [p for p, ops in schema["paths"].items() if "get" in ops and "{" not in p]
        extra = ["/openapi.json", "/docs", "/nope", "/load/sleep?seconds=abc", "/dashboard"]
        for path in [*paths, *extra]:
            for headers in (auth, {}):
                response = await client.get(path, headers=headers)
                EVIDENCE.add(f"body:{path}", response.text + str(response.headers))
                assert response.status_code < 500, path
    assert len(paths) >= 8


def test_the_password_appears_nowhere_in_what_the_suite_produced() -> None:
    # Material from served apps, bodies and CLI runs must be there, or the grep proves nothing.
    sources = {source.split(":")[0] for source, _ in EVIDENCE.texts}
    assert {"log", "body", "cli", "startup"} <= sources, sources
    assert EVIDENCE.size > 100_000
    leaks = EVIDENCE.leaks(PASSWORD)
    assert not leaks, f"the database password appeared in: {sorted(set(leaks))}"
