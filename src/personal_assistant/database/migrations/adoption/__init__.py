"""``pa-db migrate adopt``: take over the history another tool recorded in the database.

After ``pa-db migrate import`` has turned the other tool's files into pa-db files,
``adopt`` reads that tool's tracking table (:mod:`.tables`), decides what it says is
applied (:mod:`.history`, pure) and records those files in pa-db's tracking table,
with today's checksums and downs and without running them, so ``up`` continues from
there. It all happens under the migration lock in one transaction: a refusal (a dirty
golang-migrate version, a failed Flyway run, an applied version without a file)
changes nothing.

golang-migrate's and dbmate's table has pa-db's default name, ``schema_migrations``:
it is renamed (with its indexes) to ``schema_migrations_<tool>`` so that both
histories stay and never collide. Flyway's and Alembic's tables are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.adoption.history import plan
from personal_assistant.database.migrations.adoption.revisions import revision_map
from personal_assistant.database.migrations.adoption.tables import read_history
from personal_assistant.database.migrations.errors import AdoptionError
from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.foreign import TOOLS, identify, is_own, table_columns
from personal_assistant.database.migrations.lock import lock_key, migration_lock
from personal_assistant.database.migrations.tracking import Tracking

__all__ = ["ADOPTABLE", "AdoptReport", "adopt"]

ADOPTABLE = tuple(TOOLS)
RECORDED = (
    "recorded by 'pa-db migrate adopt --from {tool}': {tool} applied it, pa-db did not run it"
)

#: The indexes of a table (to rename them with it: their names are schema-wide).
TABLE_INDEXES = text(
    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = to_regclass(:table)"
)


@dataclass(frozen=True)
class AdoptReport:
    """What ``adopt`` recorded, and where the other tool's table went."""

    tool: str
    table: str
    versions: tuple[int, ...]
    moved_to: str | None
    notes: tuple[str, ...]


def _check(
    tables: Mapping[str, Mapping[str, str]], tool: str, schema: str, own: str, name: str
) -> None:
    columns = tables.get(name)
    if columns is None:
        raise AdoptionError(
            f"there is no {tool} table {schema}.{name}: nothing to adopt (pass --table if "
            "the tool was configured with another table name, --schema for another schema)"
        )
    if is_own(columns):
        raise AdoptionError(f"{schema}.{name} is pa-db's own tracking table, not {tool}'s")
    if identify(columns) is not TOOLS[tool]:
        raise AdoptionError(f"{schema}.{name} is not {tool}'s table (columns {', '.join(columns)})")


def _quoted(conn: AsyncConnection, schema: str, name: str) -> str:
    return conn.dialect.identifier_preparer.format_table(Table(name, MetaData(schema=schema)))


async def _move_aside(conn: AsyncConnection, schema: str, name: str, new: str) -> None:
    """Rename the table and its indexes (``schema_migrations_pkey`` would clash)."""
    quote = conn.dialect.identifier_preparer.quote
    old = _quoted(conn, schema, name)
    indexes = (await conn.execute(TABLE_INDEXES, {"table": old})).scalars().all()
    await conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {quote(new)}")
    for index in indexes:
        renamed = new + index.removeprefix(name) if index.startswith(name) else f"{new}_{index}"
        await conn.exec_driver_sql(
            f"ALTER INDEX {_quoted(conn, schema, index)} RENAME TO {quote(renamed)}"
        )


async def _record(
    conn: AsyncConnection, tracking: Tracking, files: Sequence[MigrationFile], tool: str
) -> None:
    own = await tracking.columns_unchecked(conn)
    if own is None:
        await tracking.create(conn)
    elif await tracking.rows(conn):
        raise AdoptionError(
            f"pa-db already records migrations in {tracking.schema}.{tracking.table.name}: "
            "adopt only starts a history (see 'pa-db migrate status')"
        )
    else:
        await tracking.ensure(conn)
    note = RECORDED.format(tool=tool)
    for file in files:
        await tracking.insert(conn, file, success=True, execution_ms=None, notices=[note])


async def adopt(
    engine: AsyncEngine,
    files: Sequence[MigrationFile],
    tracking: Tracking,
    tool: str,
    *,
    table: str | None = None,
    map_path: Path | None = None,
    wait_timeout_s: float = 300.0,
    poll_s: float = 0.5,
) -> AdoptReport:
    """Record what ``tool`` applied as applied by pa-db; raises :class:`AdoptionError`."""
    if tool not in TOOLS:
        raise AdoptionError(f"cannot adopt from {tool!r}; one of {', '.join(ADOPTABLE)}")
    schema, own = tracking.schema, tracking.table.name
    name = table or TOOLS[tool].table
    mapping = revision_map(files, map_path) if tool == "alembic" else {}
    moved = f"{own}_{tool.replace('-', '_')}" if name == own else None
    key = lock_key(schema, own)
    async with (
        migration_lock(engine, key, timeout_s=wait_timeout_s, poll_s=poll_s),
        engine.begin() as conn,
    ):
        tables = await table_columns(conn, schema, [own, name, *([moved] if moved else [])])
        _check(tables, tool, schema, own, name)
        if moved is not None and moved in tables:
            raise AdoptionError(f"{schema}.{moved} exists already: cannot move {name} there")
        history = await read_history(conn, tool, schema, name, mapping)
        chosen = plan(files, history)
        if moved is not None:
            await _move_aside(conn, schema, name, moved)
        await _record(conn, tracking, chosen, tool)
    return AdoptReport(
        tool,
        f"{schema}.{name}",
        tuple(f.version for f in chosen),
        None if moved is None else f"{schema}.{moved}",
        history.notes,
    )
