"""The tracking table (``schema_migrations``): its definition and row I/O.

The table is described once as a SQLAlchemy ``Table``, so the schema and table names
are always quoted by SQLAlchemy's identifier preparer and every value travels as a
bound parameter. It is created on first use, under the migration lock, and never
altered by hand: ``repair`` and ``baseline`` go through here too.

Versions are ``numeric(32, 0)`` in the table and ``int`` in Python, so 14-digit
timestamps and 20-digit ids fit. A table from before (``version bigint``, no
``notices``) is brought up to date in place by :meth:`Tracking.ensure`, in one
``ALTER TABLE``. A table of the same name that belongs to another migration tool
(golang-migrate and dbmate call theirs ``schema_migrations`` too) is recognised by its
columns and refused (:mod:`.foreign`), never read or written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    TypeDecorator,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateSchema

from personal_assistant.database.migrations.files import MAX_VERSION_DIGITS, MigrationFile
from personal_assistant.database.migrations.foreign import (
    OTHER_NAMES,
    check_history,
    table_columns,
)
from personal_assistant.database.migrations.notices import collected
from personal_assistant.database.migrations.plan import AppliedMigration

DEFAULT_TABLE = "schema_migrations"
#: How the version column is declared today (``format_type`` spelling).
VERSION_SQL_TYPE = f"numeric({MAX_VERSION_DIGITS},0)"
#: What a present but empty down section is stored as: a no-op, unlike NULL (no down).
EMPTY_DOWN = "-- the down section is empty: rolling back changes nothing\n"


class Version(TypeDecorator[int]):
    """``numeric(32, 0)`` in PostgreSQL, ``int`` in Python (which has no 64-bit limit)."""

    impl = Numeric(MAX_VERSION_DIGITS, 0)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


def tracking_table(schema: str = "public", name: str = DEFAULT_TABLE) -> Table:
    """The tracking table's definition in ``schema``."""
    return Table(
        name,
        MetaData(schema=schema),
        Column("version", Version(), primary_key=True, autoincrement=False),
        Column("description", Text, nullable=False),
        Column("file_name", Text, nullable=False),
        Column("checksum", Text, nullable=False),
        Column("down_sql", Text),
        Column("down_line", Integer, nullable=False, server_default=text("1")),
        Column("in_transaction", Boolean, nullable=False, server_default=text("true")),
        Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("applied_by", Text, nullable=False, server_default=text("current_user")),
        Column("execution_ms", BigInteger),
        Column("success", Boolean, nullable=False),
        Column("error", Text),
        Column("allowed_findings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        # Notices the server sent while the migration ran (NULL for rows written before).
        Column("notices", JSONB),
    )


def stored_down(file: MigrationFile) -> str | None:
    """The down SQL to record: ``None`` without a down section, a comment for an empty one."""
    if file.down is None:
        return None
    return file.down.sql if file.down.statements else EMPTY_DOWN


class Tracking:
    """Reads and writes one tracking table."""

    def __init__(self, schema: str = "public", name: str = DEFAULT_TABLE) -> None:
        self.table = tracking_table(schema, name)
        self.schema = schema

    def qualified_name(self, conn: AsyncConnection) -> str:
        """``"schema"."table"`` quoted by the dialect (for ``to_regclass`` and messages)."""
        return conn.dialect.identifier_preparer.format_table(self.table)

    async def exists(self, conn: AsyncConnection) -> bool:
        found = await conn.scalar(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": self.qualified_name(conn)}
        )
        return bool(found)

    async def columns(self, conn: AsyncConnection) -> Mapping[str, str] | None:
        """This table's ``{column: type}``, ``None`` when absent; refuses foreign tables.

        One catalog query reads this table and the other tools' tables next to it;
        :func:`.foreign.check_history` raises ``ForeignHistoryError`` when another
        tool's history is in the way.
        """
        name = self.table.name
        tables = await table_columns(conn, self.schema, [name, *OTHER_NAMES])
        check_history(self.schema, name, tables)
        return tables.get(name)

    async def columns_unchecked(self, conn: AsyncConnection) -> Mapping[str, str] | None:
        """This table's ``{column: type}`` whoever owns it (for ``adopt``)."""
        return (await table_columns(conn, self.schema, [self.table.name])).get(self.table.name)

    async def create(self, conn: AsyncConnection) -> None:
        """Create the schema and the table, without looking for other tools' tables."""
        await conn.execute(CreateSchema(self.schema, if_not_exists=True))
        await conn.run_sync(self.table.metadata.create_all, checkfirst=True)

    async def ensure(self, conn: AsyncConnection) -> None:
        """Create the schema and table, or bring an older table up to date (callers hold
        the migration lock)."""
        columns = await self.columns(conn)
        if columns is None:
            await self.create(conn)
            return
        await self._upgrade(conn, columns)

    async def _upgrade(self, conn: AsyncConnection, columns: Mapping[str, str]) -> None:
        """Widen ``version`` to numeric(32,0) and add ``notices``, in one statement."""
        changes = []
        if columns["version"].replace(" ", "") != VERSION_SQL_TYPE:
            changes.append(f"ALTER COLUMN version TYPE {VERSION_SQL_TYPE}")
        if "notices" not in columns:
            changes.append("ADD COLUMN notices jsonb")
        if changes:
            # One ALTER TABLE is atomic even on the lock's autocommit connection.
            table = self.qualified_name(conn)
            await conn.exec_driver_sql(f"ALTER TABLE {table} {', '.join(changes)}")

    async def rows(self, conn: AsyncConnection) -> tuple[AppliedMigration, ...]:
        """Every row, oldest version first; none when the table does not exist yet."""
        columns = await self.columns(conn)
        if columns is None:
            return ()
        # A table not yet upgraded by ``ensure`` (read by ``status``) lacks new columns.
        present = [c for c in self.table.columns if c.name in columns]
        result = await conn.execute(select(*present).order_by(self.table.c.version))
        return tuple(_row(dict(r._mapping)) for r in result)

    async def insert(
        self,
        conn: AsyncConnection,
        file: MigrationFile,
        *,
        success: bool,
        execution_ms: int | None,
        allowed: Sequence[dict[str, Any]] = (),
        error: str | None = None,
        notices: Sequence[str] | None = None,
    ) -> None:
        """Record ``file``, with the notices the server sent on ``conn`` while it ran
        (or ``notices``, for a row that records something pa-db did not run)."""
        down = file.down
        if notices is None:
            notices = await collected(conn)
        await conn.execute(
            insert(self.table).values(
                version=file.version,
                description=file.description,
                file_name=file.file_name,
                checksum=file.checksum,
                down_sql=stored_down(file),
                down_line=down.first_line if down is not None else 1,
                in_transaction=file.in_transaction,
                execution_ms=execution_ms,
                success=success,
                error=error,
                allowed_findings=list(allowed),
                notices=list(notices) or None,
            )
        )

    async def finish(
        self, conn: AsyncConnection, version: int, *, success: bool, ms: int, error: str | None
    ) -> None:
        """Record how a no-transaction migration that was started ended, and its notices."""
        notices = await collected(conn)
        await conn.execute(
            update(self.table)
            .where(self.table.c.version == version)
            .values(success=success, execution_ms=ms, error=error, notices=list(notices) or None)
        )

    async def delete(self, conn: AsyncConnection, version: int) -> None:
        await conn.execute(delete(self.table).where(self.table.c.version == version))

    async def set_checksum(self, conn: AsyncConnection, file: MigrationFile) -> None:
        """Re-record an edited file's checksum and down SQL (``repair``)."""
        down = file.down
        await conn.execute(
            update(self.table)
            .where(self.table.c.version == file.version)
            .values(
                checksum=file.checksum,
                file_name=file.file_name,
                down_sql=stored_down(file),
                down_line=down.first_line if down is not None else 1,
            )
        )


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):  # the asyncpg dialect may hand jsonb back as text
        value = json.loads(value)
    return list(value or [])


def _row(values: dict[str, Any]) -> AppliedMigration:
    allowed = _json_list(values.pop("allowed_findings", None))
    notices = _json_list(values.pop("notices", None))
    return AppliedMigration(
        **values, allowed_findings=tuple(allowed), notices=tuple(str(n) for n in notices)
    )
