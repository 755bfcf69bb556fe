"""Readiness: "are migrations pending?" behind a small injectable callable.

The default asks ``MigrationManager(engine).status()`` and names each pending
migration by its file. Tests and other deployments inject their own
:data:`PendingCheck` through the router's ``get_pending_check``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.migrations.manager import MigrationManager

#: Returns the names of pending migrations (empty: up to date).
PendingCheck = Callable[[AsyncEngine], Awaitable[Sequence[str]]]


def _name(migration: Any) -> str:
    for attr in ("file_name", "name", "version"):
        value = getattr(migration, attr, None)
        if value is not None:
            return str(value)
    return str(migration)


def pending_names(status: Any) -> list[str]:
    """Names of the pending migrations in whatever ``status()`` returned."""
    pending = status.get("pending") if isinstance(status, dict) else status.pending
    return [_name(m) for m in pending or ()]


async def manager_pending(engine: AsyncEngine) -> Sequence[str]:
    """The default :data:`PendingCheck`, through the project's ``MigrationManager``."""
    return pending_names(await MigrationManager(engine).status())
