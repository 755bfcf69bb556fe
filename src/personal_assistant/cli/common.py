"""What every ``pa-db`` command shares: reaching the database and reporting errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.database import (
    DatabaseConfig,
    create_engine_from_config,
    load_database_config,
)
from personal_assistant.database.embedded import start_embedded

console = Console()
err_console = Console(stderr=True)


def resolve_config(database_url: str | None = None, *, pool_size: int = 5) -> DatabaseConfig:
    """Settings from the environment, with ``--database-url`` taking precedence.

    The environment is validated as the app would validate it (a bad ``DATABASE_*``
    fails here too, naming the variable); only then is the pool shrunk for one command.
    """
    config = load_database_config()
    if database_url:
        config = config.with_url(database_url)
    return config.model_copy(update={"pool_size": pool_size, "max_overflow": 5})


@asynccontextmanager
async def cli_engine(
    database_url: str | None = None,
    *,
    data_dir: Path = Path(".pa-data"),
    for_migrations: bool = False,
) -> AsyncIterator[AsyncEngine]:
    """An engine for one command; the embedded server when no URL is configured.

    With ``for_migrations`` and no ``--database-url``, ``DATABASE_MIGRATION_URL`` wins
    over ``DATABASE_URL``: behind PgBouncer, migrations need a direct session.
    """
    config = resolve_config(database_url)
    if for_migrations and not database_url and config.migration_url is not None:
        config = config.with_url(config.migration_url.get_secret_value()).model_copy(
            update={"pgbouncer": False}
        )
    embedded = None
    if config.url is None:
        embedded = start_embedded(data_dir)
        config = config.with_url(embedded.url)
    engine = create_engine_from_config(config)
    try:
        yield engine
    finally:
        await engine.dispose()
        if embedded is not None:
            embedded.stop()
