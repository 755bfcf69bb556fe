"""The embedded default PostgreSQL, used when ``DATABASE_URL`` is unset.

A real server (PyPI ``pgserver``: PostgreSQL 16 with plpgsql and pgvector, no contrib)
kept under ``./.pa-data/`` and started and stopped with the app, so ``make run`` works
with zero configuration. It listens on a Unix socket only.

pgserver stops the server when the last Python process using it exits normally, by
keeping the pids of its users in ``.handle_pids.json``. A process killed with SIGKILL
leaves its pid there for ever, and the server would then never be stopped: we drop
dead pids before attaching, which makes this process the owner of a stale server.

Features that need ``pg_stat_statements`` or ``hypopg`` report them as unavailable on
this server rather than fail.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personal_assistant.database.errors import EmbeddedServerError
from personal_assistant.database.settings import DatabaseConfig

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".pa-data")
DATABASE_NAME = "personal_assistant"
_HANDLE_FILE = ".handle_pids.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Remove pids of processes that no longer exist from pgserver's handle list."""
    handle_file = pgdata / _HANDLE_FILE
    if not handle_file.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(handle_file.read_text() or "[]")]
    except (ValueError, TypeError):
        pids = []
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        logger.warning(
            "embedded PostgreSQL: dropping %d stale handle(s) left by killed processes",
            len(pids) - len(alive),
        )
        handle_file.write_text(json.dumps(alive))
    return alive


@dataclass
class EmbeddedPostgres:
    """A running embedded server and the URL of the application's database."""

    server: Any
    url: str

    def stop(self) -> None:
        """Release our handle; pgserver stops the server when we were the last user."""
        self.server.cleanup()


def start_embedded(data_dir: Path = DEFAULT_DATA_DIR) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server and ensure the app database exists."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a dependency
        raise EmbeddedServerError(
            "DATABASE_URL is unset and the embedded server (pgserver) is not installed"
        ) from exc
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    prune_dead_handles(pgdata)
    try:
        server = pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop"
        )
    except (subprocess.SubprocessError, AssertionError, OSError) as exc:
        # pgserver reports failures as bare subprocess/assert errors.
        raise EmbeddedServerError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}; "
            f"see {pgdata / 'log'}, or set DATABASE_URL to use another server"
        ) from exc
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
    )  # constant name, no user input
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{DATABASE_NAME}";')
    url = str(server.get_uri(DATABASE_NAME))
    logger.info("embedded PostgreSQL ready in %s", pgdata)
    return EmbeddedPostgres(server=server, url=url)


@contextmanager
def database_server(
    config: DatabaseConfig, data_dir: Path = DEFAULT_DATA_DIR
) -> Iterator[DatabaseConfig]:
    """``config`` pointing at a server: its own URL, or the embedded server while inside.

    The one place that starts the embedded PostgreSQL (the app's lifespan and every
    ``pa-db`` command come through here), and stops it on the way out.
    """
    if config.url is not None:
        yield config
        return
    embedded = start_embedded(data_dir)
    try:
        yield config.with_url(embedded.url)
    finally:
        embedded.stop()
