"""Write throwaway migration directories for the tests."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(
    directory: Path, name: str, up: str, down: str | None = None, *, no_tx: bool = False
) -> Path:
    """Write ``name`` (e.g. ``0001_users.sql``) with the given sections."""
    parts = ["-- migrate:no-transaction"] if no_tx else []
    parts += ["-- migrate:up", textwrap.dedent(up).strip()]
    if down is not None:
        parts += ["-- migrate:down", textwrap.dedent(down).strip()]
    path = directory / name
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def basic(directory: Path) -> Path:
    """Two ordinary migrations: a table, then a column with an index."""
    write(
        directory,
        "0001_items.sql",
        "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);",
        "DROP TABLE items;",
    )
    write(
        directory,
        "0002_item_price.sql",
        """
        ALTER TABLE items ADD COLUMN price numeric;
        CREATE TABLE prices_log (id bigint PRIMARY KEY);
        """,
        """
        DROP TABLE prices_log;
        ALTER TABLE items DROP COLUMN price;
        """,
    )
    return directory
