"""Notices the server sends while a migration runs, kept to be shown and recorded.

PostgreSQL answers some statements with a NOTICE or WARNING instead of an error:
``identifier "..." will be truncated to "..."``, ``relation "x" already exists,
skipping``. They are easy to miss and sometimes mean the migration did not do what
its author thought. asyncpg hands them to log listeners on the driver connection; the
runner calls :func:`listen` when a migration starts on a connection (which also
forgets what an earlier migration on that connection heard), and the tracking table
stores :func:`collected` with the migration's row. The buffers are keyed weakly by
driver connection, so a discarded connection takes its buffer with it.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncConnection

_BUFFERS: WeakKeyDictionary[Any, list[str]] = WeakKeyDictionary()


def render(message: Any) -> str:
    """``NOTICE: identifier "…" will be truncated to "…"`` (plus detail and hint)."""
    severity = getattr(message, "severity", None) or "NOTICE"
    text = f"{severity}: {getattr(message, 'message', None) or message}"
    for extra in ("detail", "hint"):
        value = getattr(message, extra, None)
        if value:
            text += f" ({extra}: {value})"
    return text


async def _driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def listen(conn: AsyncConnection) -> None:
    """Collect the notices ``conn``'s session receives from now on (a fresh list)."""
    driver = await _driver(conn)
    buffer = _BUFFERS.get(driver)
    if buffer is not None:
        buffer.clear()
        return
    add_listener = getattr(driver, "add_log_listener", None)
    if add_listener is None:  # a driver without notice callbacks: nothing to collect
        return
    buffer = _BUFFERS[driver] = []
    add_listener(lambda _connection, message: buffer.append(render(message)))


async def collected(conn: AsyncConnection) -> tuple[str, ...]:
    """What ``conn``'s session heard since :func:`listen` was last called on it."""
    return tuple(_BUFFERS.get(await _driver(conn), ()))
