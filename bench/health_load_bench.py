"""Benchmark 2: ``/health/database`` under load against a minimal asyncpg endpoint.

Both apps run under uvicorn with the same options (one worker, ``--log-level
warning``) on 127.0.0.1, on the same database: the project's app as
``apps.fastapi_app.main:app``, the reference as :func:`reference_app` — FastAPI plus
an asyncpg pool with asyncpg's default sizes, ``SELECT 1`` per request, as in the
asyncpg and FastAPI documentation. A bounded load generator keeps 64 connections
busy (wrk when installed, else the asyncio HTTP/1.1 keep-alive client below), one
side at a time, alternating the order each round.

    .venv/bin/python -m bench.health_load_bench [--duration 20] [--smoke]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bench import common

NAME = "health_load"
TITLE = "Health endpoint under load"
TARGET_SHARE = 0.8
TARGET_P99_MS = 25.0
CONNECTIONS = 64
PROJECT, REFERENCE = "project /health/database", "asyncpg pool SELECT 1"
PATHS = {PROJECT: "/health/database", REFERENCE: "/health"}
REFERENCE_DSN_VAR = "BENCH_REFERENCE_DSN"


def reference_app() -> Any:
    """The reference: FastAPI, an asyncpg pool (defaults), ``SELECT 1`` per request."""
    import asyncpg
    from fastapi import FastAPI

    dsn = os.environ[REFERENCE_DSN_VAR]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        async with app.state.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"status": "pass"}

    return app


# -- servers --------------------------------------------------------------------------
def uvicorn_command(target: str, port: int, *, factory: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    return cmd + ["--log-level", "warning", "--workers", "1"] + (["--factory"] if factory else [])


def project_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PA_"))}
    env["DATABASE_URL"] = common.with_driver(url, "postgresql")
    return env


@contextlib.contextmanager
def served(cmd: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; fails with its output if it never listens.

    Its stderr goes to a file, not a pipe: a pipe nobody reads would fill up with
    (slow query) log lines under load and stall the server being measured.
    """
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=common.ROOT, env=env, stderr=log)
        try:
            try:
                common.wait_for_port(port, 60.0)
            except TimeoutError:
                proc.kill()
                proc.wait()
                log.seek(0)
                raise RuntimeError(
                    f"{cmd[3]} did not start: {log.read().decode()[-2000:]}"
                ) from None
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- load generators ------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50, p99 (ms) and errors from ``wrk --latency`` output."""
    figures = {"per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for q in ("50", "99"):
        figures[f"p{q}"] = round(_ms(re.search(rf"\s{q}%\s+(\S+)", output).group(1)), 3)  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    figures["errors"] = float(non2xx.group(1) if non2xx else 0) + (
        sum(float(x) for x in sockets.groups()) if sockets else 0.0
    )
    figures["requests"] = float(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return figures


def wrk_load(port: int, path: str, duration_s: float) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration_s))}s", "--latency"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True)
    return parse_wrk(out.stdout)


async def _client(port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    """One keep-alive connection sending requests until ``deadline``; returns errors."""
    errors = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    try:
        while clock() < deadline:
            start = clock()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(clock() - start)
            errors += not status.startswith(b"HTTP/1.1 2")
    finally:
        writer.close()
    return errors


def asyncio_load(port: int, path: str, duration_s: float) -> dict[str, float]:
    """The fallback generator: ``CONNECTIONS`` keep-alive connections in one loop."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    async def body() -> dict[str, float]:
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + duration_s
        errors = await asyncio.gather(
            *(_client(port, request, deadline, latencies) for _ in range(CONNECTIONS))
        )
        elapsed = time.perf_counter() - started
        figures = common.percentiles(latencies)
        return {
            "per_s": round(len(latencies) / elapsed, 1), "p50": figures["p50"],
            "p99": figures["p99"], "errors": float(sum(errors)), "requests": float(len(latencies)),
        }  # fmt: skip

    return common.run(body())


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "asyncio"


def load(port: int, path: str, duration_s: float) -> dict[str, float]:
    if generator() == "wrk" and duration_s >= 1:
        return wrk_load(port, path, duration_s)
    return asyncio_load(port, path, duration_s)


def check_answers(port: int, path: str) -> None:
    """Refuse to measure an endpoint that does not answer 200."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")


# -- the run --------------------------------------------------------------------------
def prepare_database(url: str) -> None:
    from personal_assistant.database.migrations.manager import MigrationManager

    async def body() -> None:
        async with MigrationManager(common.with_driver(url, "postgresql")) as manager:
            await manager.upgrade()

    common.run(body())


def measure(url: str, duration_s: float, rounds: int) -> dict[str, Any]:
    prepare_database(url)
    ports = {PROJECT: common.free_port(), REFERENCE: common.free_port()}
    reference_env = {**os.environ, REFERENCE_DSN_VAR: common.libpq_url(url)}
    project_cmd = uvicorn_command("apps.fastapi_app.main:app", ports[PROJECT])
    reference_cmd = uvicorn_command(
        "bench.health_load_bench:reference_app", ports[REFERENCE], factory=True
    )
    with (
        served(project_cmd, project_env(url), ports[PROJECT]),
        served(reference_cmd, reference_env, ports[REFERENCE]),
    ):
        for name in (PROJECT, REFERENCE):  # warm-up: imports, pools, plans
            check_answers(ports[name], PATHS[name])
            asyncio_load(ports[name], PATHS[name], min(1.0, duration_s))

        def one(name: str, r: int) -> dict[str, float]:
            return load(ports[name], PATHS[name], duration_s)

        by_round = common.interleave(rounds, [PROJECT, REFERENCE], one)
    medians = {
        name: {k: round(common.median([r[k] for r in runs]), 3) for k in runs[0]}
        for name, runs in by_round.items()
    }
    return {"rounds": by_round, "median": medians}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    p, r = result["median"][PROJECT], result["median"][REFERENCE]
    share = common.ratio(p["per_s"], r["per_s"])
    return [
        common.row(
            TITLE, f"requests/s, {CONNECTIONS} connections", p["per_s"], r["per_s"], "req/s",
            reference_name=REFERENCE, target=f">= {TARGET_SHARE:.0%} of reference",
            met=share >= TARGET_SHARE,
            note=common.missed_by(share, TARGET_SHARE, higher_is_better=True),
        ),
        common.row(
            TITLE, "p99 latency", p["p99"], r["p99"], "ms", reference_name=REFERENCE,
            target=f"< {TARGET_P99_MS:g} ms", met=p["p99"] < TARGET_P99_MS,
            note=common.missed_by(p["p99"], TARGET_P99_MS),
        ),
        common.row(TITLE, "errors (non-2xx + socket)", p["errors"], r["errors"], "responses"),
    ]  # fmt: skip


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [PROJECT, REFERENCE]
    colors = ["#fc8d62", "#8da0cb"]
    for ax, key, label in ((left, "per_s", "requests/s"), (right, "p99", "p99 ms")):
        values = [result["median"][n][key] for n in names]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values])
        for i, n in enumerate(names):
            ax.plot([i] * len(result["rounds"][n]), [x[key] for x in result["rounds"][n]], "k.")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelsize=8)
    left.axhline(
        result["median"][REFERENCE]["per_s"] * TARGET_SHARE, color="red", linestyle="--",
        label=f"target {TARGET_SHARE:.0%} of reference",
    )  # fmt: skip
    right.axhline(TARGET_P99_MS, color="red", linestyle="--", label=f"target {TARGET_P99_MS:g} ms")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle(
        f"{CONNECTIONS} connections, {result['duration_s']:g} s per round, "
        f"{result['rounds_each']} rounds each ({result['generator']})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=20.0, help="seconds per round and side")
    p.add_argument("--rounds", type=int, default=2, help="rounds per side")
    opts = p.parse_args(argv)
    duration, rounds = (0.5, 1) if opts.smoke else (opts.duration, opts.rounds)
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = measure(url, duration, rounds)
        result.update(
            duration_s=duration, rounds_each=rounds, connections=CONNECTIONS,
            generator=generator() if duration >= 1 else "asyncio",
        )  # fmt: skip
        common.publish(
            result, name=NAME, module="bench.health_load_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
