"""A catalog snapshot of a database's schema, and a pure diff of two snapshots.

``verify`` snapshots the scratch database before a migration's up and after its down;
any difference means the down section does not restore the schema. Each category is
one catalog query (named constants below) returning ``(key, definition)`` pairs, with
definitions rendered by PostgreSQL itself (``pg_get_indexdef``,
``pg_get_constraintdef``, ``format_type``...) so that two equal schemas compare equal
even though every object got a new OID. Objects owned by extensions and the tracking
table are left out: they are not the migration's doing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_USER_SCHEMA = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
_NOT_TRACKING = "NOT (n.nspname = :skip_schema AND {table} = :skip_table)"

SCHEMAS = f"""
SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_namespace n
WHERE {_USER_SCHEMA} AND n.nspname <> 'public' AND {_NOT_EXTENSION.format(oid="n.oid")}
"""

TABLES = f"""
SELECT n.nspname || '.' || c.relname,
       c.relkind::text || ' ' || c.relpersistence::text || ' '
       || coalesce(array_to_string(c.reloptions, ','), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f') AND {_USER_SCHEMA}
  AND {_NOT_EXTENSION.format(oid="c.oid")} AND {_NOT_TRACKING.format(table="c.relname")}
"""

COLUMNS = f"""
SELECT n.nspname || '.' || c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE a.attidentity WHEN 'a' THEN ' IDENTITY ALWAYS'
                             WHEN 'd' THEN ' IDENTITY BY DEFAULT' ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END
       || coalesce(' COLLATE ' || co.collname, '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="c.oid")}
  AND {_NOT_TRACKING.format(table="c.relname")}
"""

CONSTRAINTS = f"""
SELECT n.nspname || '.' || c.relname || '.' || k.conname,
       pg_get_constraintdef(k.oid) || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA} AND {_NOT_TRACKING.format(table="c.relname")}
"""

INDEXES = f"""
SELECT n.nspname || '.' || ic.relname,
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="t.oid")}
  AND {_NOT_TRACKING.format(table="t.relname")}
"""

SEQUENCES = f"""
SELECT n.nspname || '.' || c.relname,
       format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' increment '
       || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax
       || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="c.oid")}
"""

VIEWS = f"""
SELECT n.nspname || '.' || c.relname, c.relkind::text || ' ' || pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="c.oid")}
"""

FUNCTIONS = f"""
SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="p.oid")}
"""

TYPES = f"""
SELECT n.nspname || '.' || t.typname,
       t.typtype::text || ' ' || coalesce(
         (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
          FROM pg_enum e WHERE e.enumtypid = t.oid),
         format_type(t.typbasetype, t.typtypmod))
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd') AND {_USER_SCHEMA} AND {_NOT_EXTENSION.format(oid="t.oid")}
"""

TRIGGERS = f"""
SELECT n.nspname || '.' || c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid)
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND {_USER_SCHEMA}
"""

EXTENSIONS = "SELECT e.extname, e.extversion FROM pg_extension e WHERE e.extname <> 'plpgsql'"

#: Category name -> catalog query returning ``(key, definition)`` rows.
CATALOG_QUERIES: Mapping[str, str] = {
    "schema": SCHEMAS,
    "table": TABLES,
    "column": COLUMNS,
    "constraint": CONSTRAINTS,
    "index": INDEXES,
    "sequence": SEQUENCES,
    "view": VIEWS,
    "function": FUNCTIONS,
    "type": TYPES,
    "trigger": TRIGGERS,
    "extension": EXTENSIONS,
}


@dataclass(frozen=True)
class SchemaSnapshot:
    """Category -> object key -> definition, as PostgreSQL renders it."""

    objects: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Difference:
    """One object that differs between two snapshots (``None``: absent on that side)."""

    category: str
    key: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.category} {self.key} was left behind: {self.after}"
        if self.after is None:
            return f"{self.category} {self.key} is gone (was: {self.before})"
        return f"{self.category} {self.key} changed: {self.before} -> {self.after}"


async def take_snapshot(
    conn: AsyncConnection, *, skip_schema: str = "public", skip_table: str = "schema_migrations"
) -> SchemaSnapshot:
    """Read every category from the catalog (the tracking table is skipped)."""
    params = {"skip_schema": skip_schema, "skip_table": skip_table}
    objects: dict[str, dict[str, str]] = {}
    for category, query in CATALOG_QUERIES.items():
        used = {k: v for k, v in params.items() if f":{k}" in query}
        result = await conn.execute(text(query), used)
        objects[category] = {str(key): str(value) for key, value in result}
    return SchemaSnapshot(objects)


def diff(before: SchemaSnapshot, after: SchemaSnapshot) -> tuple[Difference, ...]:
    """Every object added, removed or changed from ``before`` to ``after`` (pure)."""
    found = []
    for category in sorted(before.objects.keys() | after.objects.keys()):
        old = before.objects.get(category, {})
        new = after.objects.get(category, {})
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                found.append(Difference(category, key, old.get(key), new.get(key)))
    return tuple(found)
