"""Table facts as a file: export them from a database, lint with them anywhere (CI).

``pa-db migrate facts --output facts.json`` reads the catalog only, never a row of
data: ``pg_class`` (planner estimates, kinds), ``pg_relation_size`` (sizes),
``pg_attribute`` (column types, ``NOT NULL``), ``pg_constraint`` and ``pg_index``. The
file holds every table, partitioned table, materialized view and index outside the
system schemas. ``pa-db migrate lint --facts facts.json`` then builds exactly the
:class:`DatabaseFacts` that :func:`.facts.fetch_table_facts` would have read from that
database at export time (a name the export does not know is a relation that does not
exist yet), so the findings are the same as with ``--database-url``.

The format (``version`` 1)::

    {"format": "pa-db table facts", "version": 1, "exported_at": "...",
     "server_version": "15.4", "database": "app",
     "relations": {"public.users": {
         "kind": "table", "visible_as": "users", "rows": 5000000, "size_bytes": 1234,
         "columns": {"email": {"type": "varchar", "modifiers": [255], "not_null": true}},
         "proven_not_null": ["email"],
         "constraints": {"users_pkey": {"type": "p", "validated": true,
                                        "definition": "PRIMARY KEY (id)"}},
         "indexes": ["users_pkey"]},
      "public.users_pkey": {"kind": "index", "table": "public.users", "rows": 5000000,
                            "size_bytes": 1234, "visible_as": "users_pkey"}}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.validation.context import (
    ColumnType,
    DatabaseFacts,
    TableFacts,
)
from personal_assistant.database.migrations.validation.errors import FactsFileError
from personal_assistant.database.migrations.validation.facts import (
    CHECKS_SQL,
    COLUMNS_SQL,
    RelationStats,
    checked_column,
    decode_type,
    estimate_rows,
)

FORMAT, VERSION = "pa-db table facts", 1
KINDS = {
    "r": "table",
    "p": "partitioned table",
    "m": "materialized view",
    "i": "index",
    "I": "partitioned index",
}
_WITH_COLUMNS = ("r", "p", "m")

#: Every user relation, with what row estimation needs; ``visible`` is whether an
#: unqualified name finds it on the exporting session's search_path.
EXPORT_RELATIONS_SQL = text(
    """
    SELECT n.nspname AS schema_name, c.relname, c.oid::bigint AS oid,
           c.relkind::text AS relkind, c.reltuples, c.relpages,
           pg_relation_size(c.oid) AS heap_bytes, pg_total_relation_size(c.oid) AS total_bytes,
           current_setting('block_size')::int AS block_size,
           pg_table_is_visible(c.oid) AS visible, i.indrelid::bigint AS table_oid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I')
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY n.nspname, c.relname
    """
)

CONSTRAINTS_SQL = text(
    """
    SELECT conrelid::bigint AS oid, conname, contype::text AS contype, convalidated,
           pg_get_constraintdef(oid) AS definition
    FROM pg_constraint
    WHERE conrelid = ANY(CAST(:oids AS oid[]))
    ORDER BY conname
    """
)

SERVER_SQL = text("SELECT current_setting('server_version') AS version, current_database() AS db")


def _relation(row: Any) -> dict[str, Any]:
    stats = RelationStats(row.relkind, row.reltuples, row.relpages, row.heap_bytes, row.block_size)
    entry: dict[str, Any] = {
        "kind": KINDS[row.relkind],
        "rows": estimate_rows(stats),
        "size_bytes": int(row.total_bytes),
    }
    if row.visible:
        entry["visible_as"] = row.relname
    if row.relkind in _WITH_COLUMNS:
        entry.update(columns={}, proven_not_null=[], constraints={}, indexes=[])
    return entry


async def export_facts(conn: AsyncConnection) -> dict[str, Any]:
    """The facts of every user relation, as the JSON document described above."""
    rows = (await conn.execute(EXPORT_RELATIONS_SQL)).all()
    relations: dict[str, dict[str, Any]] = {}
    names: dict[int, str] = {}
    for row in rows:
        name = f"{row.schema_name}.{row.relname}"
        names[int(row.oid)] = name
        relations[name] = _relation(row)
    for row in rows:
        if row.table_oid is not None and int(row.table_oid) in names:
            table = names[int(row.table_oid)]
            relations[f"{row.schema_name}.{row.relname}"]["table"] = table
            relations[table]["indexes"].append(row.relname)
    oids = [oid for oid, name in names.items() if "columns" in relations[name]]
    await _add_columns(conn, oids, names, relations)
    server = (await conn.execute(SERVER_SQL)).one()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_version": server.version,
        "database": server.db,
        "relations": relations,
    }


async def _add_columns(
    conn: AsyncConnection, oids: list[int], names: Mapping[int, str], relations: dict[str, Any]
) -> None:
    if not oids:
        return
    for r in (await conn.execute(COLUMNS_SQL, {"oids": oids})).all():
        column = decode_type(r.typname, r.atttypmod)
        relations[names[int(r.oid)]]["columns"][r.attname] = {
            "type": column.name,
            "modifiers": list(column.modifiers),
            "not_null": bool(r.attnotnull),
        }
    for r in (await conn.execute(CHECKS_SQL, {"oids": oids})).all():
        column_name = checked_column(r.definition)
        if column_name is not None:
            relations[names[int(r.oid)]]["proven_not_null"].append(column_name)
    for r in (await conn.execute(CONSTRAINTS_SQL, {"oids": oids})).all():
        relations[names[int(r.oid)]]["constraints"][r.conname] = {
            "type": r.contype,
            "validated": bool(r.convalidated),
            "definition": r.definition,
        }


def _table_facts(name: str, entry: Mapping[str, Any]) -> TableFacts:
    columns = {
        column: ColumnType(str(spec["type"]), tuple(int(m) for m in spec.get("modifiers", ())))
        for column, spec in entry.get("columns", {}).items()
    }
    not_null = {c for c, spec in entry.get("columns", {}).items() if spec.get("not_null")}
    rows = entry.get("rows")
    return TableFacts(
        name,
        rows=None if rows is None else int(rows),
        size_bytes=int(entry.get("size_bytes", 0)),
        columns=columns,
        not_null_checked=frozenset(not_null | set(entry.get("proven_not_null", ()))),
    )


@dataclass(frozen=True)
class FactsSnapshot:
    """An exported facts file, ready to answer for the names a migration uses."""

    relations: Mapping[str, Mapping[str, Any]]
    source: str = "facts file"
    #: Unqualified name -> qualified key, for relations on the exporter's search_path.
    visible: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, relations: Mapping[str, Mapping[str, Any]], source: str) -> FactsSnapshot:
        visible: dict[str, str] = {}
        for key, entry in relations.items():
            bare = entry.get("visible_as")
            if isinstance(bare, str):
                visible.setdefault(bare, key)
        return cls(relations, source, visible)

    def _find(self, name: str) -> Mapping[str, Any] | None:
        return self.relations.get(name if "." in name else self.visible.get(name, ""))

    def for_names(self, names: Iterable[str]) -> DatabaseFacts:
        """What :func:`fetch_table_facts` would return for ``names`` on the exported database."""
        tables: dict[str, TableFacts] = {}
        for name in sorted(set(names)):
            found = self._find(name)
            if found is None:
                tables[name] = TableFacts(name, rows=0, exists=False)
            else:
                tables[name] = _table_facts(name, found)
        return DatabaseFacts(tables)


def load_facts(path: Path) -> FactsSnapshot:
    """Read a facts file; raises :class:`FactsFileError` naming what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FactsFileError(f"{path}: cannot read table facts ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FactsFileError(f'{path}: not a pa-db table facts file (no "format": {FORMAT!r})')
    if data.get("version") != VERSION:
        raise FactsFileError(
            f"{path}: facts format version {data.get('version')!r}; this pa-db reads {VERSION}"
        )
    relations = data.get("relations")
    if not isinstance(relations, dict):
        raise FactsFileError(f'{path}: "relations" must be an object')
    return FactsSnapshot.of(relations, f"{path} (exported {data.get('exported_at', '?')})")
