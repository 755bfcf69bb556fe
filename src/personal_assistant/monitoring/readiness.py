"""Readiness: "are migrations pending?" behind a small injectable callable.

The migration engine (``personal_assistant.database.migrations.manager``) is imported
lazily, on first readiness probe, so the health router neither pays for nor depends on
it at import time. The interface used is ``MigrationManager(engine).status()``
returning an object (or mapping) whose ``pending`` is a sequence of migrations, each
shown by its ``file_name`` (else ``name`` or ``version``). Tests and other deployments
inject their own :data:`PendingCheck` through the router's ``get_pending_check``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

#: Returns the names of pending migrations (empty: up to date).
PendingCheck = Callable[[AsyncEngine], Awaitable[Sequence[str]]]

MANAGER_MODULE = "personal_assistant.database.migrations.manager"


class MigrationStatusUnavailable(Exception):
    """Raised when no migration manager is installed to ask."""


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
    try:
        module = importlib.import_module(MANAGER_MODULE)
    except ImportError as exc:
        raise MigrationStatusUnavailable("the migration manager is not installed") from exc
    status = await module.MigrationManager(engine).status()
    return pending_names(status)
