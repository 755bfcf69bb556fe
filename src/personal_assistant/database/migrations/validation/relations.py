"""The relations parsed statements name: the keys rules, state and facts share.

Statements come parsed from :mod:`personal_assistant.database.migrations.sql_parse`
(the parser ``migrate up`` uses too); this module only reads their pglast nodes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import ObjectType

from personal_assistant.database.migrations.sql_parse import Statement

#: Relations named by these ``DROP`` kinds are looked up in the database like tables.
_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX)


def relation_key(rv: ast.RangeVar | None) -> str:
    """The name rules and facts use for a relation: ``schema.name`` or ``name``."""
    if rv is None:  # only for statements the parser never produces without one
        return "?"
    return f"{rv.schemaname}.{rv.relname}" if rv.schemaname else str(rv.relname)


def _walk(node: object) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for attr in node:
            yield from _walk(getattr(node, attr))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)


def _dropped_names(node: ast.DropStmt) -> Iterator[str]:
    if node.removeType not in _DROPPED_RELATIONS:
        return
    for names in node.objects or ():
        if isinstance(names, tuple | list):
            yield ".".join(str(part.sval) for part in names if isinstance(part, ast.String))


def referenced_relations(statements: Sequence[Statement]) -> frozenset[str]:
    """Every table or index the statements name: what to fetch facts for."""
    found: set[str] = set()
    for stmt in statements:
        for node in _walk(stmt.node):
            if isinstance(node, ast.RangeVar):
                found.add(relation_key(node))
            elif isinstance(node, ast.DropStmt):
                found.update(_dropped_names(node))
    return frozenset(found)
