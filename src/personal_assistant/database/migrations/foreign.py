"""Other migration tools' tracking tables, recognised by their columns.

pa-db's table is called ``schema_migrations`` by default, the name golang-migrate and
dbmate use too, so a table of that name is only pa-db's when it has pa-db's columns.
Each tool's table as the tool itself creates it (PostgreSQL drivers):

* golang-migrate: ``schema_migrations (version bigint not null primary key, dirty
  boolean not null)``, one row: the newest version and whether it failed half-way;
* dbmate: ``schema_migrations (version varchar(255) primary key)``, one row per
  applied version;
* Flyway: ``flyway_schema_history (installed_rank, version, description, type, script,
  checksum, installed_by, installed_on, execution_time, success)``, one row per run;
* Alembic: ``alembic_version (version_num varchar(32) primary key)``, one row per head.

:func:`check_history` (pure) refuses to go on while such a table is where pa-db's
history should be and pa-db has none yet; ``pa-db migrate adopt`` takes it over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.errors import ForeignHistoryError

#: Columns every pa-db tracking table has had since the first release.
OWN_COLUMNS = frozenset({"version", "description", "file_name", "checksum", "success"})

#: Columns of the named tables in one schema, in column order (catalog only).
TABLE_COLUMNS = text(
    """
    SELECT c.relname AS table_name, a.attname AS column_name,
           format_type(a.atttypid, a.atttypmod) AS column_type
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = :schema AND c.relname = ANY(CAST(:names AS text[]))
      AND c.relkind IN ('r', 'p')
    ORDER BY c.relname, a.attnum
    """
)


@dataclass(frozen=True)
class ForeignTool:
    """A migration tool whose history ``adopt`` can take over."""

    name: str
    table: str
    columns: frozenset[str]


GOLANG_MIGRATE = ForeignTool("golang-migrate", "schema_migrations", frozenset({"version", "dirty"}))
DBMATE = ForeignTool("dbmate", "schema_migrations", frozenset({"version"}))
FLYWAY = ForeignTool(
    "flyway",
    "flyway_schema_history",
    frozenset(
        {
            "installed_rank",
            "version",
            "description",
            "type",
            "script",
            "checksum",
            "installed_by",
            "installed_on",
            "execution_time",
            "success",
        }
    ),
)
ALEMBIC = ForeignTool("alembic", "alembic_version", frozenset({"version_num"}))
TOOLS: dict[str, ForeignTool] = {t.name: t for t in (GOLANG_MIGRATE, DBMATE, FLYWAY, ALEMBIC)}

#: Foreign tables with names of their own, looked for next to pa-db's table.
OTHER_NAMES = tuple(sorted({t.table for t in TOOLS.values()} - {"schema_migrations"}))

#: ``{table: {column: type}}`` as :func:`table_columns` reads it.
Columns = Mapping[str, Mapping[str, str]]


def _is_text(column_type: str) -> bool:
    return column_type == "text" or column_type.startswith(("character varying", "character("))


def is_own(columns: Mapping[str, str]) -> bool:
    """``True`` when a table with these columns is a pa-db tracking table."""
    return OWN_COLUMNS <= columns.keys()


def identify(columns: Mapping[str, str]) -> ForeignTool | None:
    """The tool whose table has these columns (the most specific match), if any."""
    names = frozenset(columns)
    matches = [t for t in TOOLS.values() if t.columns <= names and not is_own(columns)]
    if not matches:
        return None
    best = max(matches, key=lambda t: len(t.columns))
    # dbmate's table is one text column: a bare ``version bigint`` is not dbmate's.
    version_type = columns.get("version", "")
    if best is DBMATE and (names != DBMATE.columns or not _is_text(version_type)):
        return None
    return best


def check_history(schema: str, own_table: str, tables: Columns) -> None:
    """Refuse when a foreign table is pa-db's table, or stands alone where pa-db has none.

    ``tables`` holds the columns of pa-db's table and of :data:`OTHER_NAMES` in
    ``schema`` (absent tables are absent keys). Once pa-db's table exists, the other
    tools' tables next to it are left alone: ``adopt`` has run (or pa-db came first).
    """
    own = tables.get(own_table)
    if own is not None:
        if not is_own(own):
            tool = identify(own)
            raise ForeignHistoryError(
                f"{schema}.{own_table}", tool.name if tool else None, list(own)
            )
        return
    for name in OTHER_NAMES:
        columns = tables.get(name)
        tool = identify(columns) if columns is not None else None
        if columns is not None and tool is not None:
            raise ForeignHistoryError(f"{schema}.{name}", tool.name, list(columns))


async def table_columns(conn: AsyncConnection, schema: str, names: Sequence[str]) -> Columns:
    """``{table: {column: type}}`` for those of ``names`` that exist in ``schema``."""
    result = await conn.execute(TABLE_COLUMNS, {"schema": schema, "names": list(names)})
    found: dict[str, dict[str, str]] = {}
    for row in result:
        found.setdefault(row.table_name, {})[row.column_name] = row.column_type
    return found
