"""Connection retries against a server that starts late or never."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseUnavailableError
from tests.fixtures.postgres import PostgresCluster, free_port


async def test_retry_succeeds_against_a_server_that_comes_up_one_second_late(
    own_cluster: PostgresCluster,
) -> None:
    own_cluster.stop()
    starter = threading.Timer(1.0, own_cluster.start)
    starter.start()
    config = DatabaseConfig(
        url=own_cluster.url(),
        connect_retries=6,
        connect_retry_initial_delay=0.3,
        connect_retry_max_delay=1.0,
    )
    started = time.perf_counter()
    try:
        await db.init_engine(config)
        assert db.get_pool_stats().connections_created == 1
    finally:
        starter.join()
        await db.dispose_engine()
    assert time.perf_counter() - started >= 0.9


async def test_gives_up_with_a_clear_error_after_the_configured_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens here
    config = DatabaseConfig(
        url=f"postgresql://app:hunter2@127.0.0.1:{port}/app",
        connect_retries=2,
        connect_retry_initial_delay=0.05,
        connect_retry_max_delay=0.1,
    )
    with pytest.raises(DatabaseUnavailableError) as info:
        await db.init_engine(config)
    message = str(info.value)
    assert "after 3 attempt(s)" in message
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message
    assert "hunter2" not in caplog.text
    assert caplog.text.count("retrying in") == 2


async def test_authentication_errors_are_not_retried(own_cluster: PostgresCluster) -> None:
    config = DatabaseConfig(
        url=own_cluster.url().replace("postgres@", "nosuchrole@"),
        connect_retries=5,
        connect_retry_initial_delay=1.0,
    )
    started = time.perf_counter()
    with pytest.raises(DatabaseUnavailableError, match="nosuchrole"):
        await db.init_engine(config)
    assert time.perf_counter() - started < 1.0
    await asyncio.sleep(0)
