"""The tracking table (``schema_migrations``): its definition and row I/O.

The table is described once as a SQLAlchemy ``Table``, so the schema and table names
are always quoted by SQLAlchemy's identifier preparer and every value travels as a
bound parameter. It is created on first use, under the migration lock, and never
altered by hand: ``repair`` and ``baseline`` go through here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
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

from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.plan import AppliedMigration

DEFAULT_TABLE = "schema_migrations"


def tracking_table(schema: str = "public", name: str = DEFAULT_TABLE) -> Table:
    """The tracking table's definition in ``schema``."""
    return Table(
        name,
        MetaData(schema=schema),
        Column("version", BigInteger, primary_key=True, autoincrement=False),
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
    )


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

    async def ensure(self, conn: AsyncConnection) -> None:
        """Create the schema and table if needed (callers hold the migration lock)."""
        if await self.exists(conn):
            return
        await conn.execute(CreateSchema(self.schema, if_not_exists=True))
        await conn.run_sync(self.table.metadata.create_all, checkfirst=True)

    async def rows(self, conn: AsyncConnection) -> tuple[AppliedMigration, ...]:
        """Every row, oldest version first; none when the table does not exist yet."""
        if not await self.exists(conn):
            return ()
        result = await conn.execute(select(self.table).order_by(self.table.c.version))
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
    ) -> None:
        down = file.down
        await conn.execute(
            insert(self.table).values(
                version=file.version,
                description=file.description,
                file_name=file.file_name,
                checksum=file.checksum,
                down_sql=down.sql if down is not None and down.statements else None,
                down_line=down.first_line if down is not None else 1,
                in_transaction=file.in_transaction,
                execution_ms=execution_ms,
                success=success,
                error=error,
                allowed_findings=list(allowed),
            )
        )

    async def finish(
        self, conn: AsyncConnection, version: int, *, success: bool, ms: int, error: str | None
    ) -> None:
        """Record how a no-transaction migration that was started ended."""
        await conn.execute(
            update(self.table)
            .where(self.table.c.version == version)
            .values(success=success, execution_ms=ms, error=error)
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
                down_sql=down.sql if down is not None and down.statements else None,
                down_line=down.first_line if down is not None else 1,
            )
        )


def _row(values: dict[str, Any]) -> AppliedMigration:
    allowed = values.pop("allowed_findings") or []
    if isinstance(allowed, str):  # the asyncpg dialect may hand jsonb back as text
        allowed = json.loads(allowed)
    return AppliedMigration(**values, allowed_findings=tuple(allowed))
