"""The dashboard in headless Chromium against the app on a local port and real PostgreSQL.

One app process (uvicorn, ``HEALTH_TOKEN`` set, migrations, demo data and demo traffic
switched on as ``make run`` does) runs for the module on a throwaway cluster that the
outage test stops and starts again. Screenshots go to ``test-output/dashboard-*.png``;
set ``UPDATE_DOCS_SCREENSHOTS=1`` to also refresh ``docs/images/dashboard.png``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.fixtures.postgres import (
    EXTENSIONS,
    PostgresCluster,
    free_port,
    require,
    start_throwaway_cluster,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
DOCS_IMAGE = ROOT / "docs" / "images" / "dashboard.png"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "dashboard-test-token"
DBNAME = "dashboard"
#: Expected while the database is down: the browser logs every 503 answer.
OUTAGE_NOISE = "the server responded with a status of 503"
WAIT_MS = 20_000


@dataclass
class Server:
    """The app under test and the cluster it runs on."""

    url: str
    cluster: PostgresCluster

    def dsn(self) -> str:
        return self.cluster.url(DBNAME, driver="postgresql")

    def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.get(self.url + path, headers=headers, timeout=30).json()


@dataclass
class Console:
    """What the page wrote to the console, and uncaught errors."""

    errors: list[str] = field(default_factory=list)

    def unexpected(self, allow: str | None = None) -> list[str]:
        return [e for e in self.errors if allow is None or allow not in e]


def _prepare_database(cluster: PostgresCluster) -> None:
    with psycopg.connect(cluster.url(driver="postgresql"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
    with psycopg.connect(cluster.url(DBNAME, driver="postgresql"), autocommit=True) as conn:
        for ext in EXTENSIONS:
            # Both are optional here: the optimizer reports what it cannot do.
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(ext)))


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"the app did not become ready within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def chromium() -> Path:
    require(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "the playwright package is not installed")
    return CHROMIUM


@pytest.fixture(scope="module")
def server(chromium: Path) -> Iterator[Server]:
    cluster = start_throwaway_cluster()
    OUTPUT.mkdir(exist_ok=True)
    log = OUTPUT / "dashboard-server.log"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(DBNAME),
        "PA_AUTO_MIGRATE": "true",
        "PA_DEMO_DATA": "true",
        "PA_DEMO_TRAFFIC_RATE": "10",
        "HEALTH_TOKEN": TOKEN,
        "HEALTH_DB_TIMEOUT": "1",
    }
    try:
        _prepare_database(cluster)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "apps.fastapi_app.main:app",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(url, process, log)
            yield Server(url, cluster)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        cluster.cleanup()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, server: Server, width: int = 1280) -> tuple[Any, Any, Console]:
    """A fresh browser context (fresh session storage) on the dashboard."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    console = Console()
    page.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))
    page.goto(f"{server.url}/dashboard?refresh=1")
    return context, page, console


def enter_token(page: Any) -> None:
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")


@pytest.fixture
def dashboard(browser: Any, server: Server) -> Iterator[tuple[Any, Console]]:
    """The dashboard at laptop width with the token entered, figures on screen."""
    from playwright.sync_api import expect

    context, page, console = open_page(browser, server)
    try:
        enter_token(page)
        expect(page.locator("#card-pool")).to_have_attribute("data-status", "pass", timeout=WAIT_MS)
        yield page, console
    finally:
        context.close()


def wait_for_points(page: Any, chart: str, at_least: int) -> None:
    page.wait_for_function(
        f"document.querySelector('{chart} svg').dataset.points >= {at_least}", timeout=WAIT_MS
    )


def screenshot(page: Any, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- tests -----------------------------------------------------------------------------
def test_the_token_is_asked_once_and_kept_for_the_browser_session(
    browser: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    context, page, console = open_page(browser, server)
    try:
        expect(page.locator("#token-panel")).to_be_visible()
        expect(page.locator("#card-pool .badge")).to_have_text("🔒 Token needed")
        expect(page.locator("#card-database")).to_have_attribute("data-status", "pass")
        enter_token(page)
        expect(page.locator("#token-panel")).to_be_hidden()
        expect(page.locator("#card-pool")).to_have_attribute("data-status", "pass")
        page.reload()
        expect(page.locator("#card-migrations")).to_have_attribute("data-status", "pass")
        expect(page.locator("#token-panel")).to_be_hidden()
        assert console.unexpected() == []  # no 401 was ever requested
    finally:
        context.close()


def test_the_page_loads_and_refreshes_with_no_console_errors(
    dashboard: tuple[Any, Console],
) -> None:
    page, console = dashboard
    wait_for_points(page, "#chart-latency", 4)
    assert console.unexpected() == []


def test_the_demo_traffic_runs_permission_checks(server: Server) -> None:
    statements = server.get("/health/database/performance")["statements"]
    checks = [s for s in statements if s["statement"].startswith("SELECT EXISTS")]
    assert checks and checks[0]["calls"] > 0


def test_the_page_shows_the_figures_the_json_endpoints_return(
    dashboard: tuple[Any, Console], server: Server
) -> None:
    from playwright.sync_api import expect

    page, _ = dashboard
    database = server.get("/health/database")["database"]
    pool = server.get("/health/database/pool")["pool"]
    migrations = server.get("/health/database/migrations")
    key = page.locator
    expect(key("[data-key='db.name']")).to_have_text(database["name"])
    expect(key("[data-key='db.server_version']")).to_have_text(database["server_version"])
    expect(key("[data-key='pool.capacity']")).to_have_text(
        f"{pool['capacity']} ({pool['pool_size']} + {pool['max_overflow']} overflow)"
    )
    expect(key("[data-key='mig.version']")).to_have_text(str(migrations["current_version"]))
    expect(key("[data-key='mig.last_file']")).to_have_text(migrations["last_applied"]["file_name"])
    expect(key("[data-key='perf.window_count']")).not_to_have_text("0")
    assert_slowest_statements_match(page, server)


def assert_slowest_statements_match(page: Any, server: Server) -> None:
    """The page lists the fingerprints the endpoint ranks slowest (traffic moves them)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        wanted = {
            s["fingerprint"]
            for s in server.get("/health/database/performance")["slowest_statements"]
        }
        shown = set(page.locator("#slowest tbody tr td:first-child code").all_inner_texts())
        if shown == wanted or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert shown == wanted


def test_the_charts_grow_with_each_refresh(dashboard: tuple[Any, Console]) -> None:
    from playwright.sync_api import expect

    page, _ = dashboard
    wait_for_points(page, "#chart-latency", 3)
    wait_for_points(page, "#chart-pool-pressure", 3)
    assert page.locator("#chart-latency polyline").count() == 3  # p50, p95, p99
    expect(page.locator("[data-key='chart.p95']")).to_contain_text(" ms")


@pytest.fixture
def planted_duplicate_index(server: Server) -> Iterator[str]:
    """A table with two identical indexes: the optimizer must suggest dropping one."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE planted_orders (id bigint PRIMARY KEY, customer_id bigint)")
        conn.execute("CREATE INDEX planted_orders_customer_a ON planted_orders (customer_id)")
        conn.execute("CREATE INDEX planted_orders_customer_b ON planted_orders (customer_id)")
    try:
        yield "planted_orders"
    finally:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS planted_orders")


def test_a_planted_duplicate_index_is_recommended_with_sql_to_copy(
    dashboard: tuple[Any, Console], planted_duplicate_index: str
) -> None:
    from playwright.sync_api import expect

    page, console = dashboard
    page.click("#analyse")
    item = page.locator(".rec[data-kind='duplicate_index']", has_text=planted_duplicate_index)
    expect(item).to_be_visible(timeout=WAIT_MS)
    sql_text = item.locator("pre code").inner_text()
    assert sql_text.startswith("DROP INDEX") and planted_duplicate_index in sql_text
    item.locator("button.copy").click()
    expect(item.locator("button.copy")).to_have_text("✓ Copied")
    assert page.evaluate("navigator.clipboard.readText()") == sql_text
    wait_for_points(page, "#chart-latency", 15)  # some history for the picture
    path = screenshot(page, "1280")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" or not DOCS_IMAGE.exists():
        DOCS_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGE)
    assert console.unexpected() == []


def test_the_layout_fits_a_phone_width(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    context, page, console = open_page(browser, server, width=390)
    try:
        enter_token(page)
        expect(page.locator("#card-performance")).to_have_attribute("data-status", "pass")
        wait_for_points(page, "#chart-latency", 3)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        screenshot(page, "390")
        assert console.unexpected() == []
    finally:
        context.close()


def test_the_database_fails_while_the_server_is_stopped_and_recovers(
    dashboard: tuple[Any, Console], server: Server
) -> None:
    from playwright.sync_api import expect

    page, console = dashboard
    card = page.locator("#card-database")
    expect(card).to_have_attribute("data-status", "pass")
    server.cluster.stop()
    try:
        expect(card).to_have_attribute("data-status", "fail", timeout=WAIT_MS)
        expect(card.locator(".badge")).to_have_text("✕ Fail")
        expect(card.locator(".reason")).to_contain_text("cannot connect")
        expect(page.locator("#overall")).to_have_attribute("data-status", "fail")
        expect(page.locator("#overall-text")).to_contain_text("database: failing")
        expect(page.locator("#card-migrations")).to_have_attribute(
            "data-status", "fail", timeout=WAIT_MS
        )
        screenshot(page, "outage")
    finally:
        server.cluster.start()
    expect(card).to_have_attribute("data-status", "pass", timeout=WAIT_MS)
    expect(page.locator("#card-migrations")).to_have_attribute(
        "data-status", "pass", timeout=WAIT_MS
    )
    assert console.unexpected(allow=OUTAGE_NOISE) == []


@contextlib.contextmanager
def users_locked(server: Server) -> Iterator[tuple[int, int]]:
    """``users`` locked by a session idle in its transaction, one session queued behind it.

    Yields both pids; the lock is released (and the queued session finishes) on exit.
    """
    locker = psycopg.connect(server.dsn())
    waiter = psycopg.connect(server.dsn(), autocommit=True)
    queued = threading.Thread(target=waiter.execute, args=("SELECT count(*) FROM users",))
    try:
        locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        pids = (locker.info.backend_pid, waiter.info.backend_pid)
        queued.start()
        yield pids
    finally:
        locker.rollback()
        if queued.is_alive():
            queued.join(timeout=30)
        locker.close()
        waiter.close()


def test_a_held_lock_shows_its_blocker_and_blocked_session_then_clears(
    dashboard: tuple[Any, Console], server: Server
) -> None:
    from playwright.sync_api import expect

    page, console = dashboard
    # The optimizer explains statements on users: let its first analysis end first.
    expect(page.locator("#analyse")).to_have_text("Analyse now", timeout=3 * WAIT_MS)
    expect(page.locator("#blocked-empty")).to_be_visible()
    card = page.locator("#card-database")
    with users_locked(server) as (blocker, waiter):
        blocked_row = page.locator("#blocked tbody tr", has_text=str(waiter))
        expect(blocked_row).to_be_visible(timeout=WAIT_MS)
        expect(blocked_row.locator("td").nth(1)).to_have_text("SELECT count(*) FROM users")
        expect(blocked_row.locator("td").nth(2)).to_have_text("AccessShareLock on users")
        expect(blocked_row.locator("td").nth(4)).to_have_text(str(blocker))
        holder = page.locator("#blockers tbody tr", has_text=str(blocker))
        expect(holder.locator("td").nth(2)).to_have_text("idle in transaction")
        # Past HEALTH_BLOCKED_WARN_S (5 s) the database card warns, with the count.
        expect(card).to_have_attribute("data-status", "warn", timeout=WAIT_MS)
        expect(card.locator(".reason")).to_contain_text("waiting on a lock")
        assert int(page.locator("[data-key='sessions.blocked']").inner_text()) >= 1
        screenshot(page, "sessions")
    expect(page.locator("#blocked-empty")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#blocked")).to_be_hidden()
    expect(page.locator("#blockers-empty")).to_be_visible()
    expect(page.locator("[data-key='sessions.blocked']")).to_have_text("0")
    expect(card).to_have_attribute("data-status", "pass", timeout=WAIT_MS)
    assert console.unexpected(allow=OUTAGE_NOISE) == []
