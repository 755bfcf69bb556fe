"""Read, from the target database, the facts size-aware rules need.

One round trip per query, whatever the number of tables: names travel as bound array
parameters and ``to_regclass`` resolves them (``quote_ident`` keeps mixed-case names
intact), so nothing is formatted into SQL. Row counts are the planner's estimates
(``pg_class.reltuples``) scaled to the relation's current size, the way the planner
does it; a relation never analyzed gets a provable upper bound instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pglast import ast, parser
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.validation.context import (
    ColumnType,
    DatabaseFacts,
    LintSettings,
    TableFacts,
)
from personal_assistant.database.migrations.validation.engine import (
    DEFAULT_SETTINGS,
    LintResult,
    lint_section,
)
from personal_assistant.database.migrations.validation.relations import referenced_relations
from personal_assistant.database.migrations.validation.tracking import not_null_check_column

RELATIONS_SQL = text(
    """
    SELECT r.name, c.oid::bigint AS oid, c.relkind::text AS relkind, c.reltuples,
           c.relpages, pg_relation_size(c.oid) AS heap_bytes,
           pg_total_relation_size(c.oid) AS total_bytes,
           current_setting('block_size')::int AS block_size
    FROM unnest(CAST(:names AS text[]), CAST(:schemas AS text[]), CAST(:rels AS text[]))
         AS r(name, schema_name, rel_name)
    LEFT JOIN pg_class c ON c.oid = to_regclass(
        CASE WHEN r.schema_name IS NULL THEN quote_ident(r.rel_name)
             ELSE quote_ident(r.schema_name) || '.' || quote_ident(r.rel_name) END)
    """
)

COLUMNS_SQL = text(
    """
    SELECT a.attrelid::bigint AS oid, a.attname, t.typname, a.atttypmod, a.attnotnull
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
    """
)

CHECKS_SQL = text(
    """
    SELECT conrelid::bigint AS oid, pg_get_constraintdef(oid) AS definition
    FROM pg_constraint
    WHERE contype = 'c' AND convalidated AND conrelid = ANY(CAST(:oids AS oid[]))
    """
)

#: Bytes of page header and of one tuple header plus line pointer: the densest a heap
#: page can be is ``(block_size - 24) // 28`` tuples (PostgreSQL's MaxHeapTuplesPerPage).
_PAGE_HEADER, _MIN_TUPLE = 24, 28


@dataclass(frozen=True)
class RelationStats:
    """The ``pg_class`` figures that row estimation needs."""

    relkind: str
    reltuples: float
    relpages: int
    heap_bytes: int
    block_size: int


def estimate_rows(stats: RelationStats) -> int | None:
    """Rows now, from the last ANALYZE scaled to the current size; ``None`` if unknowable.

    ``reltuples = -1`` means never analyzed: a table with no pages is empty, otherwise
    the densest possible packing bounds it from above (conservative, never too low).
    """
    pages = stats.heap_bytes // stats.block_size
    if stats.relkind == "p":  # partitioned parent: no storage of its own
        return int(stats.reltuples) if stats.reltuples >= 0 else None
    if stats.reltuples >= 0 and stats.relpages > 0:
        return round(stats.reltuples / stats.relpages * pages)
    if pages == 0:
        return 0
    return pages * ((stats.block_size - _PAGE_HEADER) // _MIN_TUPLE)


def decode_type(typname: str, typmod: int) -> ColumnType:
    """Turn ``pg_type.typname`` and ``atttypmod`` into the parser-side :class:`ColumnType`."""
    if typname.startswith("_"):
        return ColumnType(f"{typname[1:]}[]")
    if typmod < 0:
        return ColumnType(typname)
    if typname in ("varchar", "bpchar"):
        return ColumnType(typname, (typmod - 4,))
    if typname == "numeric":
        raw = typmod - 4
        return ColumnType(typname, ((raw >> 16) & 0xFFFF, raw & 0xFFFF))
    return ColumnType(typname, (typmod,))


def checked_column(definition: str) -> str | None:
    """The column a ``CHECK ((col IS NOT NULL))`` definition proves non-null, if any."""
    try:
        stmt = parser.parse_sql(f"ALTER TABLE t ADD {definition}")[0].stmt
    except parser.ParseError:
        return None
    if not isinstance(stmt, ast.AlterTableStmt) or not stmt.cmds:
        return None
    con = stmt.cmds[0].def_
    return not_null_check_column(con) if isinstance(con, ast.Constraint) else None


def _split(name: str) -> tuple[str | None, str]:
    schema, _, rel = name.rpartition(".")
    return (schema or None), rel


async def fetch_table_facts(conn: AsyncConnection, table_names: Iterable[str]) -> DatabaseFacts:
    """Facts for each named table or index (``schema.name`` or ``name``).

    Names the database does not know come back with ``exists=False``: an earlier
    pending migration creates them, so locking them now cannot block anyone.
    """
    names = sorted(set(table_names))
    if not names:
        return DatabaseFacts()
    parts = [_split(n) for n in names]
    rows = (
        await conn.execute(
            RELATIONS_SQL,
            {"names": names, "schemas": [p[0] for p in parts], "rels": [p[1] for p in parts]},
        )
    ).all()
    oids = [int(r.oid) for r in rows if r.oid is not None]
    columns, checked = await _columns(conn, oids)
    tables: dict[str, TableFacts] = {}
    for r in rows:
        if r.oid is None:
            tables[r.name] = TableFacts(r.name, rows=0, exists=False)
            continue
        stats = RelationStats(r.relkind, r.reltuples, r.relpages, r.heap_bytes, r.block_size)
        tables[r.name] = TableFacts(
            r.name,
            rows=estimate_rows(stats),
            size_bytes=int(r.total_bytes),
            columns=columns.get(int(r.oid), {}),
            not_null_checked=frozenset(checked.get(int(r.oid), ())),
        )
    return DatabaseFacts(tables)


async def _columns(
    conn: AsyncConnection, oids: Sequence[int]
) -> tuple[dict[int, dict[str, ColumnType]], dict[int, set[str]]]:
    """Column types, and columns already NOT NULL or proven so by a validated CHECK."""
    columns: dict[int, dict[str, ColumnType]] = {}
    checked: dict[int, set[str]] = {}
    if not oids:
        return columns, checked
    for r in (await conn.execute(COLUMNS_SQL, {"oids": list(oids)})).all():
        columns.setdefault(int(r.oid), {})[r.attname] = decode_type(r.typname, r.atttypmod)
        if r.attnotnull:
            checked.setdefault(int(r.oid), set()).add(r.attname)
    for r in (await conn.execute(CHECKS_SQL, {"oids": list(oids)})).all():
        column = checked_column(r.definition)
        if column is not None:
            checked.setdefault(int(r.oid), set()).add(column)
    return columns, checked


async def lint_against(
    conn: AsyncConnection, file: MigrationFile, settings: LintSettings = DEFAULT_SETTINGS
) -> LintResult:
    """Fetch facts for the relations ``file``'s up section names, and lint it.

    What ``migrate up`` calls before running a migration: the file was parsed when it
    was loaded, so this costs two or three catalog queries and the pure rules.
    """
    statements = file.up.statements
    facts = await fetch_table_facts(conn, referenced_relations(statements))
    return lint_section(file.up, path=str(file.path), facts=facts, settings=settings)
