"""What every benchmark shares: the server, interleaved runs, percentiles, results.

A benchmark gets its PostgreSQL from :func:`server` (a throwaway cluster unless
``--database-url`` names an existing one) and a fresh database from
:func:`scratch_database`. It runs the project and its reference *interleaved*
(:func:`interleave`: A B, B A, A B, ... so that drift on a shared machine hits both
sides alike), reports medians and ratios, and writes ``<name>.json`` through
:func:`write_results`, which adds the machine, the versions and the command line.

Every results file carries ``rows``: one dict per figure (project, reference, ratio,
target, met) that ``bench/run_all.py`` turns into the table in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
for _path in (ROOT, ROOT / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

T = TypeVar("T")

#: Libraries whose versions every results file records.
LIBRARIES = (
    "sqlalchemy", "asyncpg", "fastapi", "starlette", "uvicorn", "uvloop", "httpx",
    "alembic", "psycopg", "pydantic", "pglast", "numpy",
)  # fmt: skip


# -- figures ----------------------------------------------------------------------------
def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of latencies given in seconds."""
    import numpy as np

    if not samples_s:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "n": 0}
    ms = np.asarray(samples_s, dtype=float) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "p50": round(float(p50), 4),
        "p95": round(float(p95), 4),
        "p99": round(float(p99), 4),
        "mean": round(float(ms.mean()), 4),
        "n": int(ms.size),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def ratio(project: float, reference: float) -> float:
    """project / reference, rounded; ``inf`` when the reference is zero."""
    return round(project / reference, 3) if reference else float("inf")


def row(
    benchmark: str,
    metric: str,
    project: float | None,
    reference: float | None,
    unit: str,
    *,
    target: str = "",
    met: bool | None = None,
    note: str = "",
    reference_name: str = "",
) -> dict[str, Any]:
    """One line of the README table (``ratio`` is project / reference)."""
    both = project is not None and bool(reference)
    return {
        "benchmark": benchmark,
        "metric": metric,
        "project": project,
        "reference": reference,
        "reference_name": reference_name,
        "unit": unit,
        "ratio": ratio(project, reference) if both else None,  # type: ignore[arg-type]
        "target": target,
        "met": met,
        "note": note,
    }


def missed_by(value: float, limit: float, *, higher_is_better: bool = False) -> str:
    """``"met"`` or how far ``value`` is from ``limit`` (as a factor)."""
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return "met"
    factor = limit / value if higher_is_better else value / limit
    return f"missed by {factor - 1:.1%}" if factor < 1.1 else f"missed by {factor:.2f}x"


# -- interleaving -----------------------------------------------------------------------
def interleave(
    rounds: int, names: Sequence[str], run: Callable[[str, int], T]
) -> dict[str, list[T]]:
    """Run every variant ``rounds`` times, alternating the order (AB, BA, AB, ...)."""
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        order = list(names) if r % 2 == 0 else list(reversed(names))
        for name in order:
            out[name].append(run(name, r))
    return out


async def ainterleave(
    rounds: int, names: Sequence[str], run: Callable[[str, int], Awaitable[T]]
) -> dict[str, list[T]]:
    """:func:`interleave` for coroutines."""
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        order = list(names) if r % 2 == 0 else list(reversed(names))
        for name in order:
            out[name].append(await run(name, r))
    return out


# -- the server -------------------------------------------------------------------------
def libpq_url(url: str) -> str:
    """``postgresql://`` form of a URL that may carry SQLAlchemy's driver suffix."""
    return url.replace("postgresql+asyncpg://", "postgresql://").replace(
        "postgresql+psycopg://", "postgresql://"
    )


def with_driver(url: str, driver: str) -> str:
    return libpq_url(url).replace("postgresql://", f"{driver}://", 1)


@contextlib.contextmanager
def server(database_url: str | None) -> Iterator[str]:
    """A libpq admin URL: ``database_url`` as given, else a throwaway cluster's."""
    if database_url:
        yield libpq_url(database_url)
        return
    from tests.fixtures.postgres import start_throwaway_cluster

    cluster = start_throwaway_cluster()
    try:
        yield cluster.url(driver="postgresql")
    finally:
        cluster.cleanup()


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new empty database on ``admin_url``'s server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` pointing at database ``name`` (as a ``postgresql://`` URL)."""
    from sqlalchemy.engine import make_url

    url = make_url(libpq_url(admin_url)).set(database=name)
    return url.render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


# -- the machine ------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _tool_version(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def server_facts(admin_url: str) -> dict[str, Any]:
    """The PostgreSQL server's version and the settings that move the figures."""
    import psycopg

    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "max_connections")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]


def machine_info(admin_url: str | None = None) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and library versions (and the server's)."""
    versions = {}
    for lib in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[lib] = metadata.version(lib)
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": versions,
        "tools": {
            "psql": _tool_version(["psql", "--version"]),
            "wrk": _tool_version(["wrk", "--version"]),
        },
    }
    if admin_url is not None:
        info["postgresql"] = server_facts(admin_url)
    return info


# -- command line and results -----------------------------------------------------------
def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks it still runs")
    p.add_argument("--database-url", help="existing server allowing CREATE DATABASE")
    p.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    return p


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How to reproduce the run (the database URL is never recorded)."""
    args = list(sys.argv[1:] if argv is None else argv)
    shown = []
    skip = False
    for arg in args:
        if skip:
            shown.append("URL")
            skip = False
            continue
        if arg == "--database-url":
            skip = True
        shown.append("--database-url=URL" if arg.startswith("--database-url=") else arg)
    return " ".join([".venv/bin/python -m", module, *shown])


def write_results(
    out: Path, name: str, payload: dict[str, Any], *, smoke: bool, command: str, admin_url: str
) -> Path:
    """Write ``<name>.json`` (``<name>_smoke.json`` in smoke mode) with machine facts."""
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "name": name,
        "smoke": smoke,
        "command": command,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(admin_url),
        **payload,
    }
    path = out / f"{name}{'_smoke' if smoke else ''}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def publish(
    result: dict[str, Any],
    *,
    name: str,
    module: str,
    argv: Sequence[str] | None,
    out: Path,
    smoke: bool,
    admin_url: str,
    rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
    plot: Callable[[dict[str, Any], Path], None],
) -> None:
    """Every benchmark's ending: table rows, results JSON, the plot, the printed rows."""
    result["rows"] = rows(result)
    write_results(
        out, name, result, smoke=smoke, command=command_line(module, argv), admin_url=admin_url
    )
    plot(result, figure_path(out, name, smoke))
    print_rows(result["rows"])


def figure_path(out: Path, name: str, smoke: bool) -> Path:
    return out / f"{name}{'_smoke' if smoke else ''}.png"


def pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def print_rows(rows: Sequence[dict[str, Any]]) -> None:
    for r in rows:
        ratio_text = f"  ratio {r['ratio']}" if r["ratio"] is not None else ""
        verdict = "" if r["met"] is None else ("  MET" if r["met"] else "  MISSED")
        print(
            f"  {r['metric']}: project {r['project']} {r['unit']}, "
            f"reference {r['reference']}{ratio_text}  [{r['target']}]{verdict} {r['note']}"
        )


def loop_name() -> str:
    """The event loop :func:`run` uses: uvloop when installed, as uvicorn does."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(coro: Awaitable[T]) -> T:
    """Run ``coro`` on the loop named by :func:`loop_name`."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(coro)  # type: ignore[no-any-return]
    import asyncio

    return asyncio.run(coro)  # type: ignore[arg-type]
