"""The embedded default server used by `make run` when DATABASE_URL is unset."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.embedded import prune_dead_handles, start_embedded


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest makes it 0700 under root, and the server runs as another user.
    with tempfile.TemporaryDirectory(prefix="pa-embedded-") as d:
        yield Path(d)


async def test_embedded_server_serves_the_app_database(data_dir: Path) -> None:
    embedded = start_embedded(data_dir)
    try:
        await db.init_engine(DatabaseConfig(url=embedded.url))
        async with db.session_scope() as session:
            name = (await session.execute(text("SELECT current_database()"))).scalar()
        assert name == "personal_assistant"
    finally:
        await db.dispose_engine()
        embedded.stop()
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_handles_of_killed_processes_are_dropped(tmp_path: Path) -> None:
    handle_file = tmp_path / ".handle_pids.json"
    dead_pid = 2**22 + 12345  # above pid_max on Linux: cannot be alive
    import os

    handle_file.write_text(json.dumps([dead_pid, os.getpid()]))
    assert prune_dead_handles(tmp_path) == [os.getpid()]
    assert json.loads(handle_file.read_text()) == [os.getpid()]
