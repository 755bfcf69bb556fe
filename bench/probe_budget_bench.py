"""Health budgets under load: answers within HEALTH_DB_TIMEOUT from a stuck database.

The real app under uvicorn (``HEALTH_DB_TIMEOUT`` 2 s; ``HEALTH_MIGRATIONS_CACHE_S=0``,
so every readiness request reads the migrations: the worst case) and a reference, a
minimal FastAPI endpoint putting ``asyncio.timeout(2)`` around ``asyncpg.connect`` and
``SELECT 1``, each take 64 concurrent keep-alive clients (wrk when installed, else the
asyncio client) while the database is:

- **frozen**: the postmaster stopped with SIGSTOP (it accepts TCP, answers nothing);
- **slow**: every answer of the server delayed by 300 ms (a TCP proxy in front of it),
  so a probe passes in about a second and the rest of the request gets what is left;
- **locked**: the migration tracking table locked ``ACCESS EXCLUSIVE``: the probe passes
  and readiness's migration read waits for the lock.

The figure is each endpoint's slowest answer (and its p99) against the target, the
budget plus 100 ms. The server gets frozen, so it is always a throwaway cluster of the
benchmark's own (``--database-url`` is not used).

    .venv/bin/python -m bench.probe_budget_bench [--duration 10] [--smoke]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import common
from bench.health_load_bench import served, uvicorn_command

NAME = "probe_budget"
TITLE = "Health budgets under load"
CONNECTIONS = 64
BUDGET_S, SMOKE_BUDGET_S = 2.0, 0.5
MARGIN_MS = 100.0
SLOW_DELAY_S = 0.3
SCENARIOS = ("frozen", "slow", "locked")
PROJECT_DB, PROJECT_READY, REFERENCE = "/health/database", "/health/ready", "reference"
#: What each scenario measures: the reference has nothing to lock.
SIDES = {
    "frozen": (PROJECT_DB, PROJECT_READY, REFERENCE),
    "slow": (PROJECT_DB, PROJECT_READY, REFERENCE),
    "locked": (PROJECT_READY,),
}
REFERENCE_DSN_VAR, BUDGET_VAR = "BENCH_REFERENCE_DSN", "BENCH_BUDGET_S"
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "non2xx": %d, "socket_errors": %d, '
    .. '"p50": %.3f, "p99": %.3f, "p999": %.3f, "max": %.3f}\\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
"""


def reference_app() -> Any:
    """The reference: a fresh asyncpg connection and ``SELECT 1`` under one timeout."""
    import asyncpg
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    dsn, budget = os.environ[REFERENCE_DSN_VAR], float(os.environ[BUDGET_VAR])
    app = FastAPI()

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            async with asyncio.timeout(budget):
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await conn.close()
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return JSONResponse({"status": "fail"}, status_code=503)
        return JSONResponse({"status": "pass"})

    return app


# -- the database's troubles -----------------------------------------------------------
class DelayProxy:
    """A TCP proxy to PostgreSQL whose answers can be delayed (the slow scenario)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = common.free_port()
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pump(reader, up_writer, delayed=False),
            self._pump(up_reader, writer, delayed=True),
            return_exceptions=True,
        )
        self._writers.difference_update((writer, up_writer))

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        try:
            while data := await src.read(65536):
                if delayed and self.delay_s:
                    await asyncio.sleep(self.delay_s)
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()


def postmaster_pid(admin_url: str) -> int:
    """The postmaster: the parent of a backend (the cluster runs on this machine)."""
    import psycopg

    with psycopg.connect(admin_url) as conn:  # read while the backend still exists
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        stat = Path(f"/proc/{backend}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@contextlib.contextmanager
def trouble(scenario: str, admin_url: str, db_url: str, proxy: DelayProxy) -> Iterator[None]:
    """The database in ``scenario``'s state for the duration of the block."""
    if scenario == "frozen":
        pid = postmaster_pid(admin_url)
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
    elif scenario == "slow":
        proxy.delay_s = SLOW_DELAY_S
        try:
            yield
        finally:
            proxy.delay_s = 0.0
    else:
        import psycopg

        with psycopg.connect(common.libpq_url(db_url)) as conn:
            conn.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
            yield
            conn.rollback()


def wait_healthy(port: int, path: str, timeout_s: float = 30.0) -> None:
    """Until ``path`` answers 200 (a failure is cached for a second after a scenario)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(urllib.error.HTTPError, OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                if answer.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not answer 200 within {timeout_s:g} s")
        time.sleep(0.2)


# -- load ------------------------------------------------------------------------------
def wrk_load(url: str, duration_s: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_REPORT)
        script.flush()
        cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration_s))}s"]
        cmd += ["--timeout", "30s", "-s", script.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}


async def _client(port: int, path: str, deadline: float, out: list[tuple[float, int]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out.append((time.perf_counter() - start, int(status.split()[1])))
    finally:
        writer.close()


def asyncio_load(port: int, path: str, duration_s: float) -> dict[str, float]:
    """The fallback: ``CONNECTIONS`` keep-alive clients in one loop, every answer timed."""
    import numpy as np

    out: list[tuple[float, int]] = []

    async def body() -> None:
        deadline = time.perf_counter() + duration_s
        await asyncio.gather(*(_client(port, path, deadline, out) for _ in range(CONNECTIONS)))

    common.run(body())
    ms = np.asarray([s for s, _ in out] or [0.0]) * 1000
    p50, p99, p999 = np.percentile(ms, [50, 99, 99.9])
    return {
        "requests": float(len(out)), "non2xx": float(sum(c >= 300 for _, c in out)),
        "socket_errors": 0.0, "p50": round(float(p50), 3), "p99": round(float(p99), 3),
        "p999": round(float(p999), 3), "max": round(float(ms.max()), 3),
    }  # fmt: skip


def generator(duration_s: float) -> str:
    return "wrk" if shutil.which("wrk") and duration_s >= 1 else "asyncio"


def load(port: int, path: str, duration_s: float) -> dict[str, float]:
    """The answers' figures, with the machine's load average (it is shared and noisy)."""
    before = os.getloadavg()[0]
    if generator(duration_s) == "wrk":
        figures = wrk_load(f"http://127.0.0.1:{port}{path}", duration_s)
    else:
        figures = asyncio_load(port, path, duration_s)
    return {**figures, "loadavg_1m": round(max(before, os.getloadavg()[0]), 2)}


# -- the run ---------------------------------------------------------------------------
def measure(admin: str, url: str, budget_s: float, duration_s: float) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    from bench.health_load_bench import prepare_database, project_env

    prepare_database(url)
    upstream = make_url(url).port or 5432
    with DelayProxy(upstream) as proxy:
        proxied = make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
        env = {
            **project_env(proxied), "HEALTH_DB_TIMEOUT": str(budget_s),
            "HEALTH_MIGRATIONS_CACHE_S": "0",
        }  # fmt: skip
        ref_env = {**os.environ, REFERENCE_DSN_VAR: common.libpq_url(proxied)}
        ref_env[BUDGET_VAR] = str(budget_s)
        ports = {"project": common.free_port(), REFERENCE: common.free_port()}
        project_cmd = uvicorn_command("apps.fastapi_app.main:app", ports["project"])
        ref_cmd = uvicorn_command(
            "bench.probe_budget_bench:reference_app", ports[REFERENCE], factory=True
        )
        results: dict[str, dict[str, dict[str, float]]] = {}
        with served(project_cmd, env, ports["project"]), served(ref_cmd, ref_env, ports[REFERENCE]):
            for scenario in SCENARIOS:
                results[scenario] = {}
                for side in SIDES[scenario]:
                    port, path = (
                        (ports[REFERENCE], "/health") if side == REFERENCE
                        else (ports["project"], side)
                    )  # fmt: skip
                    wait_healthy(port, path)
                    with trouble(scenario, admin, url, proxy):
                        results[scenario][side] = load(port, path, duration_s)
    return {"scenarios": results}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    target_ms = result["budget_s"] * 1000 + MARGIN_MS
    out = []
    for scenario, sides in result["scenarios"].items():
        reference = sides.get(REFERENCE, {}).get("max")
        for side, figures in sides.items():
            if side == REFERENCE:
                continue
            out.append(
                common.row(
                    TITLE, f"{scenario}: slowest answer, {side}", figures["max"], reference,
                    "ms", reference_name="fresh asyncpg connection under asyncio.timeout",
                    target=f"<= {target_ms:,.0f} ms", met=figures["max"] <= target_ms,
                    note=f"p99 {figures['p99']:,.0f} ms, {figures['requests']:,.0f} answers, "
                    f"load average {figures['loadavg_1m']:g}; "
                    + common.missed_by(figures["max"], target_ms),
                )
            )  # fmt: skip
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(11, 4))
    labels, maxima, p99s = [], [], []
    for scenario, sides in result["scenarios"].items():
        for side, figures in sides.items():
            labels.append(f"{scenario}\n{side}")
            maxima.append(figures["max"])
            p99s.append(figures["p99"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], maxima, width=0.4, label="slowest answer", color="#fc8d62")
    ax.bar([x + 0.2 for x in xs], p99s, width=0.4, label="p99", color="#8da0cb")
    target = result["budget_s"] * 1000 + MARGIN_MS
    ax.axhline(target, color="red", linestyle="--", label=f"target {target:,.0f} ms")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("ms")
    ax.legend(fontsize=8)
    ax.set_title(
        f"{CONNECTIONS} connections, {result['duration_s']:g} s per run, "
        f"HEALTH_DB_TIMEOUT {result['budget_s']:g} s ({result['generator']})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    opts = p.parse_args(argv)
    duration, budget = (1.0, SMOKE_BUDGET_S) if opts.smoke else (opts.duration, BUDGET_S)
    with common.server(None) as admin, common.scratch_database(admin, NAME) as url:
        result = measure(admin, url, budget, duration)
        result.update(
            budget_s=budget, duration_s=duration, connections=CONNECTIONS,
            generator=generator(duration), slow_delay_s=SLOW_DELAY_S,
        )  # fmt: skip
        common.publish(
            result, name=NAME, module="bench.probe_budget_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
