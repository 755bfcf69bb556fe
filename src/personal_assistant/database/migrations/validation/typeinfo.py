"""Facts about types and functions that decide whether PostgreSQL rewrites a table.

``ALTER COLUMN ... TYPE`` skips the rewrite only when the old type is binary-coercible
to the new one and no stricter modifier has to be checked (PostgreSQL's
``ATColumnChangeRequiresRewrite``); ``ADD COLUMN ... DEFAULT`` skips it only when the
default is not volatile (PostgreSQL 11+ stores one value in the catalog instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from personal_assistant.database.migrations.validation.context import ColumnType

#: Spellings the parser leaves alone, mapped to PostgreSQL's internal type names.
_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "serial": "serial4",
    "smallserial": "serial2",
    "bigserial": "serial8",
    "decimal": "numeric",
    "boolean": "bool",
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "double precision": "float8",
    "real": "float4",
}

SERIAL_TYPES = frozenset({"serial2", "serial4", "serial8"})
SMALL_INT_TYPES = frozenset({"int2", "int4", "serial2", "serial4"})

#: Types that change without a rewrite when the modifier grows or is dropped.
_WIDENABLE = frozenset({"varchar", "numeric", "varbit"})

#: Binary-coercible pairs (old, new) that never rewrite, whatever the data.
_COERCIBLE = frozenset({("varchar", "text"), ("text", "varchar"), ("cidr", "inet")})

#: Functions whose result changes per row: as a column default they force a rewrite.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "random_normal",
        "gen_random_uuid",
        "gen_random_bytes",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
    }
)

#: Common stable or immutable functions: evaluated once for ``ADD COLUMN ... DEFAULT``.
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_setting",
        "lower",
        "upper",
        "btrim",
        "length",
        "concat",
        "replace",
        "to_jsonb",
        "to_json",
        "jsonb_build_object",
        "jsonb_build_array",
        "json_build_object",
        "make_date",
        "make_interval",
        "date_trunc",
        "array_fill",
        "timezone",
    }
)


def column_type(type_name: ast.TypeName | None) -> ColumnType:
    """Reduce a parsed ``TypeName`` to its internal name and integer modifiers."""
    if type_name is None:
        return ColumnType("")
    names = [str(part.sval) for part in type_name.names or () if isinstance(part, ast.String)]
    name = names[-1] if names else ""
    name = _ALIASES.get(name, name)
    mods: list[int] = []
    for mod in type_name.typmods or ():
        if isinstance(mod, ast.A_Const) and isinstance(mod.val, ast.Integer):
            mods.append(int(mod.val.ival or 0))
    if name == "numeric" and len(mods) == 1:
        mods.append(0)  # numeric(p) means numeric(p, 0)
    if type_name.arrayBounds:
        name = f"{name}[]"
    return ColumnType(name, tuple(mods))


def describe(col: ColumnType) -> str:
    """``varchar(100)``-style rendering for messages."""
    mods = f"({', '.join(map(str, col.modifiers))})" if col.modifiers else ""
    return f"{col.name}{mods}"


def change_is_safe(old: ColumnType, new: ColumnType) -> bool:
    """``True`` when ``old`` → ``new`` neither rewrites nor re-checks the table."""
    if old == new or ((old.name, new.name) in _COERCIBLE and not new.modifiers):
        return True
    if old.name != new.name or old.name not in _WIDENABLE:
        return False
    if not new.modifiers:
        return True  # dropping the limit: varchar(n) -> varchar, numeric(p,s) -> numeric
    if not old.modifiers:
        return False  # adding a limit must check every row
    if old.name == "numeric":
        # Scale must stay the same; only the precision may grow.
        return new.modifiers[1:] == old.modifiers[1:] and new.modifiers[0] >= old.modifiers[0]
    return new.modifiers[0] >= old.modifiers[0]


def may_be_widening(new: ColumnType) -> bool:
    """``True`` when some old type could change into ``new`` without a rewrite."""
    return new.name in _WIDENABLE or new.name in {pair[1] for pair in _COERCIBLE}


def _function_names(node: object) -> Iterator[str]:
    if isinstance(node, ast.FuncCall):
        parts = [str(p.sval) for p in node.funcname or () if isinstance(p, ast.String)]
        if parts:
            yield parts[-1]
    if isinstance(node, ast.Node):
        for attr in node:
            yield from _function_names(getattr(node, attr))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from _function_names(item)


def volatility(expr: ast.Node | None) -> tuple[list[str], list[str]]:
    """Split the functions an expression calls into (volatile, unknown) names."""
    names = list(_function_names(expr))
    volatile = [name for name in names if name in VOLATILE_FUNCTIONS]
    unknown = [
        name
        for name in names
        if name not in VOLATILE_FUNCTIONS and name not in NON_VOLATILE_FUNCTIONS
    ]
    return volatile, unknown
