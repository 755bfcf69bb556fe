"""Helpers shared by the container tests: the docker clients and polling.

Fixtures (the engine, stand-in base images, the built image) live in ``conftest.py``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CI_SCRIPTS = REPO / "docker" / "ci"
OUTPUT_DIR = REPO / "test-output"
COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
ENV_EXAMPLE = REPO / "docker" / ".env.example"
APP_IMAGE = "pa-ci/app:test"
MEASUREMENTS_KEY = pytest.StashKey[dict[str, float]]()


def find_tool(name: str) -> str | None:
    """``name`` on PATH or next to this interpreter (tools pip-installed into the venv)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def docker_cli() -> str | None:
    """Prefer Debian's client, which matches the engine started here."""
    if env := os.environ.get("PA_DOCKER_CLI"):
        return env
    debian = Path("/usr/bin/docker")
    return str(debian) if debian.exists() else find_tool("docker")


@dataclass(frozen=True)
class StandIns:
    """Tags of the locally built base images (the official ones on a normal host)."""

    python: str = "pa-ci/python:3.11"
    python_builder: str = "pa-ci/python-build:3.11"
    postgres: str = "pa-ci/postgres:15"
    redis: str = "pa-ci/redis:7"
    pgbouncer: str = "pa-ci/pgbouncer:1.18"


@dataclass
class Docker:
    """The docker and docker-compose clients, pointed at the test engine."""

    cli: str
    compose_cli: str
    env: dict[str, str]

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run([self.cli, *args], self.env, timeout, check)

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run([self.compose_cli, *args], self.env, timeout, check)

    def inspect(self, ref: str, template: str) -> str:
        return self.run("inspect", "--format", template, ref).stdout.strip()

    def logs(self, ref: str) -> str:
        result = self.run("logs", "--tail", "60", ref, check=False)
        return result.stdout + result.stderr


def _run(
    cmd: list[str], env: dict[str, str], timeout: float, check: bool
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd[:4])} ... exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    build_seconds: float
    size_bytes: int
    base_size_bytes: int


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, on_timeout: Callable[[], str]
) -> float:
    """Poll ``condition`` until true; return the seconds it took, fail with context."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} not reached within {timeout:.0f} s\n{on_timeout()}")
        time.sleep(0.25)
    return time.monotonic() - started


@dataclass
class HealthWatch:
    """Reads a container's own health status, failing fast if the container exited."""

    docker: Docker
    container: str
    seen: list[str] = field(default_factory=list)

    def healthy(self) -> bool:
        state = self.docker.inspect(
            self.container, "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
        )
        self.seen.append(state)
        if state.startswith(("exited", "dead")):
            pytest.fail(f"{self.container} exited:\n{self.docker.logs(self.container)}")
        return state.endswith(" healthy")


def write_env_file(path: Path, images: StandIns, app_image: str, ports: dict[str, int]) -> str:
    """docker/.env.example with fresh secrets, the stand-in images and free ports."""
    token = secrets.token_hex(16)
    values = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "HEALTH_TOKEN": token,
        "APP_IMAGE": app_image,
        "PYTHON_BASE_IMAGE": images.python,
        "PYTHON_BUILDER_IMAGE": images.python_builder,
        "POSTGRES_IMAGE": images.postgres,
        "REDIS_IMAGE": images.redis,
        "PGBOUNCER_IMAGE": images.pgbouncer,
        **{name: str(port) for name, port in ports.items()},
    }
    lines = [
        line
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.split("=", 1)[0].strip() not in values
    ]
    lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return token
