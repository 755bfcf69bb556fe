"""Benchmark 8: start-up, from process spawn to ``/health/ready`` answering 200.

The project starts as its README says (``pa-db serve`` with ``DATABASE_URL`` set, on
a database whose migrations are applied, so readiness can pass); the reference is
the minimal FastAPI + asyncpg pool app of the health benchmark under the ``uvicorn``
command, polled at its ``/health`` (a ``SELECT 1``). The clock starts just before
spawning and stops at the first 200; polls are 5 ms apart on a fresh connection.
Rounds alternate. To explain the figure, the time to import the app module alone
(``import apps.fastapi_app.main``, timed inside a fresh interpreter) against the
reference's imports, and a bare interpreter's start, are measured in the same rounds.

    .venv/bin/python -m bench.startup_bench [--rounds 5] [--smoke]
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.health_load_bench import (
    REFERENCE_DSN_VAR,
    prepare_database,
    project_env,
    stop,
    uvicorn_command,
)

NAME = "startup"
TITLE = "Start-up to ready"
TARGET_S = 1.5
PROJECT, REFERENCE = "pa-db serve -> /health/ready", "uvicorn + asyncpg app -> /health"
TIMEOUT_S = 60.0


def status_of(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def time_to_ready(cmd: list[str], env: dict[str, str], port: int, path: str) -> float:
    """Seconds from spawn to the first 200 from ``path``."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=common.ROOT, env=env, stdout=log, stderr=log)
        try:
            while time.perf_counter() - start < TIMEOUT_S:
                if status_of(port, path) == 200:
                    return time.perf_counter() - start
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{cmd[0]} exited: {log.read().decode()[-2000:]}")
                time.sleep(0.005)
            raise TimeoutError(f"{path} not ready after {TIMEOUT_S:g} s")
        finally:
            stop(proc)


def python_seconds(code: str, repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter's start (``pass``) or of its imports.

    Imports are timed inside the child (``import X`` between two clock reads), so the
    interpreter's start and tear-down do not count.
    """
    runs = []
    for _ in range(repeats):
        if code == "pass":
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], cwd=common.ROOT, check=True)
            runs.append(time.perf_counter() - start)
            continue
        timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
        out = subprocess.run(
            [sys.executable, "-c", timed], cwd=common.ROOT, check=True, capture_output=True
        )
        runs.append(float(out.stdout.decode().split()[-1]))
    return common.median(runs)


def commands(url: str) -> dict[str, tuple[list[str], dict[str, str], int, str]]:
    p_port, r_port = common.free_port(), common.free_port()
    pa_db = str(Path(sys.executable).with_name("pa-db"))
    reference_env = {**os.environ, REFERENCE_DSN_VAR: common.libpq_url(url)}
    reference = uvicorn_command("bench.health_load_bench:reference_app", r_port, factory=True)
    return {
        PROJECT: (
            [pa_db, "serve", "--host", "127.0.0.1", "--port", str(p_port)],
            project_env(url), p_port, "/health/ready",
        ),
        REFERENCE: (reference, reference_env, r_port, "/health"),
    }  # fmt: skip


#: Fresh interpreters that explain the start-up figure, timed in the same rounds.
IMPORTS = {
    "import apps.fastapi_app.main": "import apps.fastapi_app.main",
    "import fastapi, asyncpg, uvicorn": "import fastapi, asyncpg, uvicorn",
}


def measure(url: str, rounds: int) -> dict[str, Any]:
    prepare_database(url)
    cmds = commands(url)

    def one(name: str, r: int) -> float:
        if name in IMPORTS:
            return round(python_seconds(IMPORTS[name], 1), 4)
        cmd, env, port, path = cmds[name]
        return round(time_to_ready(cmd, env, port, path), 4)

    runs = common.interleave(rounds, [PROJECT, *IMPORTS, REFERENCE], one)
    medians = {k: round(common.median(v), 4) for k, v in runs.items()}
    bare = round(python_seconds("pass", 3), 4)
    return {
        "rounds": {k: runs[k] for k in (PROJECT, REFERENCE)},
        "median_s": {k: medians[k] for k in (PROJECT, REFERENCE)},
        "imports_s": {"bare interpreter": bare, **{k: medians[k] for k in IMPORTS}},
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    p, r = result["median_s"][PROJECT], result["median_s"][REFERENCE]
    imports = result["imports_s"]
    return [
        common.row(
            TITLE, "spawn to first 200", p, r, "s", reference_name=REFERENCE,
            target=f"< {TARGET_S:g} s", met=p < TARGET_S, note=common.missed_by(p, TARGET_S),
        ),
        common.row(
            TITLE, "import time of the app module", imports["import apps.fastapi_app.main"],
            imports["import fastapi, asyncpg, uvicorn"], "s",
            reference_name="import fastapi, asyncpg, uvicorn",
            note=f"bare interpreter {imports['bare interpreter']} s",
        ),
    ]  # fmt: skip


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [PROJECT, REFERENCE]
    values = [result["median_s"][n] for n in names]
    bars = left.bar(names, values, color=["#fc8d62", "#8da0cb"])
    left.bar_label(bars, labels=[f"{v:.2f} s" for v in values])
    for i, n in enumerate(names):
        left.plot([i] * len(result["rounds"][n]), result["rounds"][n], "k.")
    left.axhline(TARGET_S, color="red", linestyle="--", label=f"target {TARGET_S:g} s")
    left.set_ylabel("seconds, spawn to first 200 (median)")
    left.tick_params(axis="x", labelsize=8)
    left.legend(fontsize=8)
    imports = result["imports_s"]
    right.barh(list(imports), list(imports.values()), color="#66c2a5")
    right.set_xlabel("seconds (fresh interpreter)")
    right.set_title("Where start-up goes", fontsize=9)
    right.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    opts = p.parse_args(argv)
    rounds = 1 if opts.smoke else opts.rounds
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = measure(url, rounds)
        result["rounds_each"] = rounds
        common.publish(
            result, name=NAME, module="bench.startup_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
