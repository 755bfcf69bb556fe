"""What every ``pa-db`` command shares: reaching the database and printing errors.

Only the consoles are made at import (rich is typer's own dependency and renders its
help); the settings, the engine and the embedded server are imported when a command
asks for them, so that ``pa-db --help`` does not load SQLAlchemy or pydantic-settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from personal_assistant.database.settings import DatabaseConfig

T = TypeVar("T")

# soft_wrap: messages name files and SQL; a line break inside a path or a statement
# would break copy-paste and every tool that reads ``file:line``.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, importing asyncio (and with it ssl) only when a command runs."""
    import asyncio

    return asyncio.run(coro)


def resolve_config(database_url: str | None = None, *, pool_size: int = 5) -> DatabaseConfig:
    """Settings from the environment, with ``--database-url`` taking precedence.

    The environment is validated as the app would validate it (a bad ``DATABASE_*``
    fails here too, naming the variable); only then is the pool shrunk for one command.
    An explicit ``--database-url`` also wins over ``DATABASE_MIGRATION_URL``. Commands
    are operator work (seeding, analysis, verification): the request timeouts are off.
    """
    from personal_assistant.database.settings import load_database_config

    config = load_database_config()
    if database_url:
        config = config.with_url(database_url).model_copy(update={"migration_url": None})
    return config.for_maintenance().model_copy(update={"pool_size": pool_size, "max_overflow": 5})


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
    from personal_assistant.database.embedded import database_server
    from personal_assistant.database.engine import create_engine_from_config

    config = resolve_config(database_url)
    if for_migrations:
        config = config.for_migrations()
    with database_server(config, data_dir) as config:
        engine = create_engine_from_config(config)
        try:
            yield engine
        finally:
            await engine.dispose()
