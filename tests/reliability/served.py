"""The load app served by uvicorn in a subprocess, on a free 127.0.0.1 port.

A real process over real HTTP: the restart and kill tests must see what a client
sees, including the 503 handlers and uvicorn itself. Configuration goes through the
environment (``DATABASE_*``, ``HEALTH_*``, ``REDIS_URL``), as in production; logs go
at DEBUG to a file that :data:`EVIDENCE` receives when the app stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.postgres import free_port
from tests.reliability.evidence import EVIDENCE

ROOT = Path(__file__).resolve().parents[2]
#: Variables the app reads; the parent's values must not leak into a served app.
APP_PREFIXES = (
    "DATABASE_", "PA_", "HEALTH_", "REDIS_", "PERF_", "OPTIMIZER_", "ALERT_", "WORKER_",
)  # fmt: skip

LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"file": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "DEBUG", "handlers": ["file"]},
    # SQL text only (parameters are hidden anyway) and very chatty under load.
    "loggers": {"sqlalchemy.engine.Engine": {"level": "WARNING"}},
}


@dataclass
class ServedApp:
    """One uvicorn process serving ``tests.reliability.load_app:create``."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pool(self) -> dict[str, Any]:
        """The pool figures from ``/health/database/pool``."""
        response = httpx.get(f"{self.base_url}/health/database/pool", timeout=5)
        EVIDENCE.add("body:/health/database/pool", response.text)
        pool: dict[str, Any] = response.json()["pool"]
        return pool

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        EVIDENCE.add(f"log:{self.log_path.name}", self.log())


def app_env(database_url: str, **settings: str) -> dict[str, str]:
    """The parent's environment without app settings, plus ``settings`` (upper-cased)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
    env["PYTHONPATH"] = str(ROOT)
    env["DATABASE_URL"] = database_url
    env.update({key.upper(): value for key, value in settings.items()})
    return env


def serve(workdir: Path, env: dict[str, str], *, ready_timeout_s: float = 30.0) -> ServedApp:
    """Start uvicorn and wait until ``/health`` answers; fails with the log otherwise."""
    port = free_port()
    log_config = workdir / "log-config.json"
    log_config.write_text(json.dumps(LOG_CONFIG))
    log_path = workdir / f"uvicorn-{port}.log"
    command = [
        sys.executable, "-m", "uvicorn", "tests.reliability.load_app:create", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-config", str(log_config),
        "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        # cwd is a scratch directory: no .env or .pa-data of the checkout is picked up.
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    app = ServedApp(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{app.log()[-3000:]}")
        try:
            if httpx.get(f"{app.base_url}/health", timeout=1).status_code == 200:
                return app
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    app.stop()
    raise RuntimeError(
        f"the app did not answer /health in {ready_timeout_s} s:\n{app.log()[-3000:]}"
    )
