"""Style warnings for column definitions: choices that are cheap now and costly later.

These never block a migration (severity ``warning``); they flag types whose fix, once
the table is large, is exactly the table rewrite the other rules warn about.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from personal_assistant.database.migrations.validation import typeinfo
from personal_assistant.database.migrations.validation.context import RuleContext, Severity
from personal_assistant.database.migrations.validation.verdicts import Violation, ident

_KEY_CONSTRAINTS = (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_FOREIGN)


def _table_keys(node: ast.CreateStmt) -> frozenset[str]:
    """Columns named by table-level PRIMARY KEY and FOREIGN KEY constraints."""
    keys: set[str] = set()
    for elt in node.tableElts or ():
        if isinstance(elt, ast.Constraint) and elt.contype in _KEY_CONSTRAINTS:
            names = elt.keys if elt.contype == ConstrType.CONSTR_PRIMARY else elt.fk_attrs
            keys.update(str(k.sval) for k in names or () if isinstance(k, ast.String))
    return frozenset(keys)


def check_create_table(node: ast.CreateStmt, ctx: RuleContext) -> Iterator[Violation]:
    """Style of every column of a new table."""
    keys = _table_keys(node)
    for elt in node.tableElts or ():
        if isinstance(elt, ast.ColumnDef):
            yield from check_column(elt, keys)


def _is_key(col: ast.ColumnDef, keys: frozenset[str]) -> bool:
    if str(col.colname) in keys:
        return True
    kinds = {c.contype for c in col.constraints or () if isinstance(c, ast.Constraint)}
    return bool(kinds & {*_KEY_CONSTRAINTS, ConstrType.CONSTR_IDENTITY})


def check_column(col: ast.ColumnDef, keys: frozenset[str]) -> Iterator[Violation]:
    """Warnings for one column definition; ``keys`` are table-level key columns."""
    if col.typeName is None:
        return
    ctype = typeinfo.column_type(col.typeName)
    name = ident(str(col.colname))
    if ctype.name in typeinfo.SMALL_INT_TYPES and (
        ctype.name.startswith("serial") or _is_key(col, keys)
    ):
        yield Violation(
            "prefer-bigint",
            Severity.WARNING,
            f"{col.colname} is a 32-bit key ({ctype.name}); it runs out at 2,147,483,647 "
            "and widening it later rewrites the table and every referencing one",
            f"{name} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY  -- or bigint for a "
            "foreign key",
        )
    elif ctype.name == "json":
        yield Violation(
            "prefer-jsonb",
            Severity.WARNING,
            f"{col.colname} is json: stored as text, reparsed on every access, no GIN index",
            f"{name} jsonb",
        )
    elif ctype.name == "timestamp":
        yield Violation(
            "prefer-timestamptz",
            Severity.WARNING,
            f"{col.colname} is timestamp without time zone: the offset is lost and "
            "values shift when the session time zone changes",
            f"{name} timestamptz",
        )
    elif ctype.name in ("varchar", "bpchar") and ctype.modifiers:
        limit = ctype.modifiers[0]
        yield Violation(
            "prefer-text",
            Severity.WARNING,
            f"{col.colname} is {typeinfo.describe(ctype)}: raising the limit is free but "
            "lowering it or switching from char(n) rewrites the table",
            f"{name} text CHECK (char_length({name}) <= {limit})  -- a CHECK can be "
            "swapped with NOT VALID, no rewrite",
        )
