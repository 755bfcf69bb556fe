"""Fixtures of the reliability suite: served apps, evidence capture, test order.

Soak variants (``@pytest.mark.soak``) are deselected by the default ``-m "not soak"``
in pyproject's addopts and run by ``make soak`` (``-m soak``). The secret-leak test is
moved to the end of the run, so that it greps everything the other tests produced.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.postgres import PostgresCluster
from tests.reliability.evidence import EVIDENCE, EvidenceHandler, with_password
from tests.reliability.served import ServedApp, app_env, serve

SECRETS_TEST = "tests/reliability/test_secrets.py"
APP_DB = "app"

Serve = Callable[..., ServedApp]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    last = [item for item in items if item.nodeid.startswith(SECRETS_TEST)]
    items[:] = [item for item in items if item not in last] + last


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and item.nodeid.startswith("tests/reliability/"):
        EVIDENCE.add(f"failure:{item.nodeid}", report.longreprtext)
    return report


@pytest.fixture(scope="package", autouse=True)
def capture_logs() -> Iterator[None]:
    """Every in-process log record at DEBUG goes to the evidence."""
    root = logging.getLogger()
    handler = EvidenceHandler()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pa-rel-"))
    yield path
    import shutil

    if not os.environ.get("PA_KEEP_WORKDIR"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(workdir: Path) -> Iterator[Serve]:
    """``served(database_url, **settings)``: a running app; stopped at teardown."""
    apps: list[ServedApp] = []

    def start(database_url: str, **settings: str) -> ServedApp:
        app = serve(workdir, app_env(with_password(database_url), **settings))
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def app_database(own_cluster: PostgresCluster) -> str:
    """URL of a fresh database ``app`` on the dedicated cluster (no password)."""
    with psycopg.connect(own_cluster.url(driver="postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {APP_DB}")
    return own_cluster.url(APP_DB)
