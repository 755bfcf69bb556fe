"""Redis, which aggregates the workers' monitoring figures, dies while the app serves."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.postgres import free_port, require
from tests.fixtures.redis import _wait_ready
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE
from tests.reliability.load import LoadGenerator


class RedisProcess:
    """A redis-server of this test alone, which it may kill and restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is not installed")
        assert binary is not None
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pa-rel-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_ready(self.port)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    redis = RedisProcess()
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
        shutil.rmtree(redis.dir, ignore_errors=True)


def aggregation(client: httpx.Client) -> dict[str, object]:
    response = client.get("/health/database/pool")
    EVIDENCE.add("body:/health/database/pool", response.text)
    assert response.status_code == 200
    result: dict[str, object] = response.json()["aggregation"]
    return result


async def test_redis_down_falls_back_to_process_figures_and_the_app_keeps_serving(
    served: Serve, database_url: str, redis_process: RedisProcess
) -> None:
    app = served(
        database_url, redis_url=redis_process.url, redis_timeout="0.2",
        worker_publish_interval_s="0.2",
    )  # fmt: skip
    with httpx.Client(base_url=app.base_url, timeout=5) as client:
        assert aggregation(client)["scope"] == "service"
        async with LoadGenerator(app.base_url, "/load/sleep", 4) as load:
            await asyncio.sleep(0.3)
            redis_process.kill()
            killed = time.monotonic()
            await asyncio.sleep(0.5)
            down = await asyncio.to_thread(aggregation, client)
            metrics = await asyncio.to_thread(client.get, "/metrics")
            await asyncio.sleep(0.3)
    assert down["scope"] == "process" and down["workers"] == 1
    assert "redis unavailable" in str(down["warning"])
    assert redis_process.url not in str(down)
    assert metrics.status_code == 200
    after_kill = [s for s in load.samples if s.started >= killed]
    assert after_kill and all(s.ok for s in after_kill)
    assert max(s.seconds for s in after_kill) < 0.5  # one 0.2 s Redis timeout at most


@pytest.mark.soak
async def test_monitoring_returns_to_service_figures_when_redis_comes_back(
    served: Serve, database_url: str, redis_process: RedisProcess
) -> None:
    app = served(
        database_url, redis_url=redis_process.url, redis_timeout="0.2",
        worker_publish_interval_s="0.2",
    )  # fmt: skip
    with httpx.Client(base_url=app.base_url, timeout=5) as client:
        redis_process.kill()
        assert aggregation(client)["scope"] == "process"
        redis_process.start()
        back = time.monotonic()
        while aggregation(client)["scope"] != "service":
            assert time.monotonic() - back < 10
            await asyncio.sleep(0.1)
    print(f"\nRECOVERY redis: service-wide figures {time.monotonic() - back:.2f} s after restart")
