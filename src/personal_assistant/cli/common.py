"""What every ``pa-db`` command shares: reaching the database and printing errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.embedded import database_server
from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.settings import DatabaseConfig, load_database_config

console = Console()
err_console = Console(stderr=True)


def resolve_config(database_url: str | None = None, *, pool_size: int = 5) -> DatabaseConfig:
    """Settings from the environment, with ``--database-url`` taking precedence.

    The environment is validated as the app would validate it (a bad ``DATABASE_*``
    fails here too, naming the variable); only then is the pool shrunk for one command.
    An explicit ``--database-url`` also wins over ``DATABASE_MIGRATION_URL``.
    """
    config = load_database_config()
    if database_url:
        config = config.with_url(database_url).model_copy(update={"migration_url": None})
    return config.model_copy(update={"pool_size": pool_size, "max_overflow": 5})


@asynccontextmanager
async def cli_engine(
    database_url: str | None = None,
    *,
    data_dir: Path = Path(".pa-data"),
    for_migrations: bool = False,
) -> AsyncIterator[AsyncEngine]:
    """An engine for one command; the embedded server when no URL is configured.

    With ``for_migrations``, migrations connect where
    :meth:`DatabaseConfig.for_migrations` says (``DATABASE_MIGRATION_URL`` behind
    PgBouncer).
    """
    config = resolve_config(database_url)
    if for_migrations:
        config = config.for_migrations()
    with database_server(config, data_dir) as config:
        engine = create_engine_from_config(config)
        try:
            yield engine
        finally:
            await engine.dispose()
