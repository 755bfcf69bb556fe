"""What a no-transaction migration can leave behind: INVALID indexes.

A failed or cancelled ``CREATE INDEX CONCURRENTLY`` (or ``REINDEX CONCURRENTLY``)
leaves an index marked INVALID: never used by queries, yet maintained on every write.
Worse, a later ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` sees the name and silently
keeps the broken index. So after every no-transaction migration, succeeded or not, the
runner looks for invalid indexes that appeared during it or that it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pglast import ast
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import IdentifierPreparer

from personal_assistant.database.migrations.sql_parse import Statement

INVALID_INDEXES = text(
    """
    SELECT n.nspname AS schema, c.relname AS name, t.relname AS table_name
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_class t ON t.oid = i.indrelid
    WHERE NOT i.indisvalid
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%'
    """
)


@dataclass(frozen=True, order=True)
class InvalidIndex:
    """An index PostgreSQL marked INVALID."""

    schema: str
    name: str
    table_name: str

    def cleanup_sql(self, preparer: IdentifierPreparer) -> str:
        qualified = (
            f"{preparer.quote_identifier(self.schema)}.{preparer.quote_identifier(self.name)}"
        )
        return f"DROP INDEX CONCURRENTLY IF EXISTS {qualified};"


async def invalid_indexes(conn: AsyncConnection) -> frozenset[InvalidIndex]:
    result = await conn.execute(INVALID_INDEXES)
    return frozenset(InvalidIndex(r.schema, r.name, r.table_name) for r in result)


def named_indexes(statements: Iterable[Statement]) -> frozenset[str]:
    """Names of the indexes that ``CREATE INDEX`` / ``REINDEX`` statements mention."""
    names: set[str] = set()
    for stmt in statements:
        node = stmt.node
        if isinstance(node, ast.IndexStmt) and node.idxname:
            names.add(str(node.idxname))
        elif isinstance(node, ast.ReindexStmt) and node.relation is not None:
            names.add(str(node.relation.relname))
    return frozenset(names)


def left_behind(
    before: frozenset[InvalidIndex], after: frozenset[InvalidIndex], names: frozenset[str]
) -> tuple[InvalidIndex, ...]:
    """Invalid indexes that appeared during the migration or that it names."""
    return tuple(sorted(ix for ix in after if ix not in before or ix.name in names))


def describe(indexes: Iterable[InvalidIndex], preparer: IdentifierPreparer) -> str:
    """A report listing each leftover and the SQL that removes it."""
    lines = []
    for ix in indexes:
        lines.append(f"  INVALID index {ix.schema}.{ix.name} on table {ix.table_name}")
        lines.append(f"    clean up with: {ix.cleanup_sql(preparer)}")
    return "\n".join(lines)
