"""The other tools' tracking tables as SQLAlchemy tables, and reading their rows.

Only the columns adoption reads are declared; names are quoted by SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.adoption import history
from personal_assistant.database.migrations.adoption.history import FlywayRow, ForeignHistory


def _table(schema: str, name: str, *columns: Column[object]) -> Table:
    return Table(name, MetaData(schema=schema), *columns)


async def read_history(
    conn: AsyncConnection, tool: str, schema: str, name: str, mapping: Mapping[str, int]
) -> ForeignHistory:
    """What ``tool``'s table ``schema.name`` says is applied."""
    where = f"{schema}.{name}"
    if tool == "golang-migrate":
        t = _table(schema, name, Column("version", BigInteger), Column("dirty", Boolean))
        rows = (await conn.execute(select(t.c.version, t.c.dirty))).all()
        return history.golang_migrate([(int(r.version), bool(r.dirty)) for r in rows], where)
    if tool == "dbmate":
        t = _table(schema, name, Column("version", Text))
        versions = (await conn.execute(select(t.c.version))).scalars().all()
        return history.dbmate([str(v) for v in versions], where)
    if tool == "flyway":
        t = _table(
            schema,
            name,
            Column("installed_rank", Integer),
            Column("version", Text),
            Column("description", Text),
            Column("type", Text),
            Column("script", Text),
            Column("success", Boolean),
        )
        result = await conn.execute(select(t).order_by(t.c.installed_rank))
        return history.flyway([FlywayRow(**r._mapping) for r in result], where)
    t = _table(schema, name, Column("version_num", Text))
    revisions = (await conn.execute(select(t.c.version_num))).scalars().all()
    return history.alembic([str(r) for r in revisions], mapping, where)
