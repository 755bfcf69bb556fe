"""Rules for ``ALTER TABLE`` sub-commands and ``RENAME``.

Most of ``ALTER TABLE`` takes ACCESS EXCLUSIVE, which blocks even ``SELECT``. That is
harmless for an instant catalog change and an outage when the command then scans or
rewrites a large table, so each rule asks whether the command does work per row and
how many rows the table has.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from personal_assistant.database.migrations.validation import style_rules, typeinfo
from personal_assistant.database.migrations.validation.context import RuleContext, Severity
from personal_assistant.database.migrations.validation.relations import relation_key
from personal_assistant.database.migrations.validation.verdicts import (
    Violation,
    gated,
    ident,
    in_transaction,
    sql,
)

_T = AlterTableType
_INDEX_BACKED = (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION)
_VALIDATED = (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK)


def check_alter_table(node: ast.AlterTableStmt, ctx: RuleContext) -> Iterator[Violation]:
    """Judge each sub-command of one ``ALTER TABLE``."""
    if node.objtype != ObjectType.OBJECT_TABLE:
        return
    table = relation_key(node.relation)
    for cmd in node.cmds or ():
        if isinstance(cmd, ast.AlterTableCmd):
            yield from _command(table, cmd, ctx)


def _command(table: str, cmd: ast.AlterTableCmd, ctx: RuleContext) -> Iterator[Violation]:
    kind, arg, name = cmd.subtype, cmd.def_, str(cmd.name or "")
    if kind == _T.AT_AddColumn and isinstance(arg, ast.ColumnDef):
        yield from _add_column(table, arg, ctx)
        yield from style_rules.check_column(arg, frozenset())
    elif kind == _T.AT_AlterColumnType and isinstance(arg, ast.ColumnDef):
        yield from _alter_type(table, name, arg, ctx)
    elif kind == _T.AT_SetNotNull:
        yield from _set_not_null(table, name, ctx)
    elif kind == _T.AT_AddConstraint and isinstance(arg, ast.Constraint):
        yield from _add_constraint(table, arg, ctx)
    elif kind == _T.AT_ValidateConstraint:
        yield from _validate(table, name, ctx)
    elif kind == _T.AT_DropColumn and not ctx.is_new(table):
        yield _drop_column(table, name)
    elif kind in (_T.AT_SetLogged, _T.AT_SetUnLogged):
        mode = "LOGGED" if kind == _T.AT_SetLogged else "UNLOGGED"
        yield gated(
            ctx,
            table,
            "set-logged-unlogged",
            f"SET {mode} rewrites {table} under ACCESS EXCLUSIVE",
            "create the table with the right persistence up front, or copy into a new "
            "table and swap names in a short transaction",
        )
    elif kind == _T.AT_SetTableSpace:
        yield gated(
            ctx,
            table,
            "set-tablespace",
            f"SET TABLESPACE copies every block of {table} under ACCESS EXCLUSIVE",
            "use pg_repack --tablespace, which moves the table without the long lock",
        )
    elif kind == _T.AT_DetachPartition and isinstance(arg, ast.PartitionCmd):
        if arg.concurrent and ctx.in_transaction:
            yield in_transaction(ctx, "DETACH PARTITION CONCURRENTLY")


def _constraints(col: ast.ColumnDef) -> list[ast.Constraint]:
    return [c for c in col.constraints or () if isinstance(c, ast.Constraint)]


def _add_column(table: str, col: ast.ColumnDef, ctx: RuleContext) -> Iterator[Violation]:
    cons = _constraints(col)
    kinds = {c.contype for c in cons}
    default = next((c.raw_expr for c in cons if c.contype == ConstrType.CONSTR_DEFAULT), None)
    column = str(col.colname)
    ctype = typeinfo.column_type(col.typeName)
    generated = (
        ConstrType.CONSTR_IDENTITY in kinds
        or ConstrType.CONSTR_GENERATED in kinds
        or ctype.name in typeinfo.SERIAL_TYPES
    )
    not_null = col.is_not_null or bool(
        kinds & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY}
    )
    if not_null and default is None and not generated:
        yield from _not_null_without_default(table, col, ctx)
    yield from _rewriting_default(table, column, default, generated, ctx)
    for con in cons:
        if con.contype in _INDEX_BACKED:
            yield _index_backed(table, con, ctx, column)
        elif con.contype in _VALIDATED:
            yield gated(
                ctx,
                table,
                "constraint-missing-not-valid",
                f"ADD COLUMN {column} with an inline {_kind(con)} checks every row of "
                f"{table} while ADD COLUMN holds ACCESS EXCLUSIVE",
                f"ALTER TABLE {ident(table)} ADD COLUMN {ident(column)} "
                f"{typeinfo.describe(ctype)}; then ALTER TABLE {ident(table)} ADD "
                f"CONSTRAINT {ident(table)}_{column}_check {sql(_unnamed(con))} NOT VALID; "
                "then VALIDATE CONSTRAINT in a later migration",
            )


def _unnamed(con: ast.Constraint) -> ast.Constraint:
    copied = copy.deepcopy(con)
    copied.conname = None
    if copied.contype == ConstrType.CONSTR_FOREIGN and not copied.fk_attrs:
        copied.fk_attrs = None
    return copied


def _kind(con: ast.Constraint) -> str:
    return "FOREIGN KEY" if con.contype == ConstrType.CONSTR_FOREIGN else "CHECK"


def _not_null_without_default(
    table: str, col: ast.ColumnDef, ctx: RuleContext
) -> Iterator[Violation]:
    if ctx.is_new(table):
        return
    facts = ctx.facts.get(table) if ctx.facts is not None else None
    column = str(col.colname)
    ctype = typeinfo.describe(typeinfo.column_type(col.typeName))
    empty = facts is not None and facts.rows == 0
    yield Violation(
        "adding-not-null-column",
        Severity.INFO if empty else Severity.ERROR,
        f"ADD COLUMN {column} NOT NULL without DEFAULT fails as soon as {table} has a row"
        + ("; allowed because the table is empty" if empty else ""),
        f"ALTER TABLE {ident(table)} ADD COLUMN {ident(column)} {ctype} NOT NULL DEFAULT "
        "<value>;  -- a constant default is stored once, no rewrite (PostgreSQL 11+)",
    )


def _rewriting_default(
    table: str, column: str, default: ast.Node | None, generated: bool, ctx: RuleContext
) -> Iterator[Violation]:
    volatile, unknown = typeinfo.volatility(default)
    hint = (
        f"ALTER TABLE {ident(table)} ADD COLUMN {ident(column)} <type>; then "
        f"ALTER TABLE {ident(table)} ALTER COLUMN {ident(column)} SET DEFAULT <expr>; "
        "then backfill old rows in batches outside the migration"
    )
    if generated or volatile:
        what = f"volatile {', '.join(volatile)}()" if volatile else "a generated/serial value"
        yield gated(
            ctx,
            table,
            "adding-volatile-default",
            f"ADD COLUMN {column} with {what} computes a value per row: PostgreSQL "
            f"rewrites {table} under ACCESS EXCLUSIVE",
            hint,
        )
    elif unknown and ctx.size(table).large:
        yield Violation(
            "adding-volatile-default",
            Severity.WARNING,
            f"default of {column} calls {', '.join(unknown)}(): if it is VOLATILE, "
            f"PostgreSQL rewrites {table} under ACCESS EXCLUSIVE",
            hint,
        )


def _alter_type(
    table: str, column: str, col: ast.ColumnDef, ctx: RuleContext
) -> Iterator[Violation]:
    new = typeinfo.column_type(col.typeName)
    old = ctx.column_type(table, column)
    size = ctx.size(table)
    rewrite_hint = (
        f"add a new column {ident(column)}_new {typeinfo.describe(new)}, write both from the "
        "application, backfill in batches, then switch reads and drop the old column"
    )
    if col.raw_default is None and old is not None and typeinfo.change_is_safe(old, new):
        return
    if not size.large:
        yield gated(ctx, table, "changing-column-type", "ALTER COLUMN TYPE", rewrite_hint)
    elif col.raw_default is None and old is None and typeinfo.may_be_widening(new):
        yield Violation(
            "changing-column-type",
            Severity.WARNING,
            f"ALTER COLUMN {column} TYPE {typeinfo.describe(new)} is free only when it "
            f"widens (varchar(n) to a larger n or text); otherwise it rewrites {table} "
            "under ACCESS EXCLUSIVE. Lint with --database-url to know",
            rewrite_hint,
        )
    else:
        was = f" (from {typeinfo.describe(old)})" if old is not None else ""
        yield Violation(
            "changing-column-type",
            Severity.ERROR,
            f"ALTER COLUMN {column} TYPE {typeinfo.describe(new)}{was} rewrites or "
            f"re-checks every row of {table} under ACCESS EXCLUSIVE ({size.reason})",
            rewrite_hint,
        )


def _set_not_null(table: str, column: str, ctx: RuleContext) -> Iterator[Violation]:
    if ctx.not_null_proven(table, column):
        return
    t, c = ident(table), ident(column)
    yield gated(
        ctx,
        table,
        "setting-not-null",
        f"SET NOT NULL on {table}.{column} scans the whole table under ACCESS EXCLUSIVE",
        f"ALTER TABLE {t} ADD CONSTRAINT {table}_{column}_not_null CHECK ({c} IS NOT NULL) "
        f"NOT VALID; then (next migration) ALTER TABLE {t} VALIDATE CONSTRAINT "
        f"{table}_{column}_not_null; then ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL "
        "(no scan: PostgreSQL 12+ uses the validated CHECK) and drop the CHECK",
    )


def _add_constraint(table: str, con: ast.Constraint, ctx: RuleContext) -> Iterator[Violation]:
    if con.contype in _INDEX_BACKED:
        if not con.indexname:
            yield _index_backed(table, con, ctx, None)
    elif con.contype in _VALIDATED and not con.skip_validation:
        safe = copy.deepcopy(con)
        safe.skip_validation = True
        safe.initially_valid = False
        name = ident(str(con.conname or "<name>"))
        locks = "SHARE ROW EXCLUSIVE on both tables" if _kind(con) == "FOREIGN KEY" else ""
        yield gated(
            ctx,
            table,
            "constraint-missing-not-valid",
            f"ADD {_kind(con)} validates every row of {table} while holding "
            f"{locks or 'ACCESS EXCLUSIVE'}",
            f"ALTER TABLE {ident(table)} ADD {sql(safe)}; then in a later migration "
            f"ALTER TABLE {ident(table)} VALIDATE CONSTRAINT {name};",
        )


def _index_backed(
    table: str, con: ast.Constraint, ctx: RuleContext, column: str | None
) -> Violation:
    keys = [str(k.sval) for k in con.keys or () if isinstance(k, ast.String)] or [column or "?"]
    primary = con.contype == ConstrType.CONSTR_PRIMARY
    rule = "adding-primary-key" if primary else "adding-unique-constraint"
    index = f"{table.rpartition('.')[2]}_{'_'.join(keys)}_{'pkey' if primary else 'key'}"
    kind = "PRIMARY KEY" if primary else "UNIQUE"
    cols = ", ".join(map(ident, keys))
    return gated(
        ctx,
        table,
        rule,
        f"adding {kind} builds its index on {table} under ACCESS EXCLUSIVE",
        f"CREATE UNIQUE INDEX CONCURRENTLY {ident(index)} ON {ident(table)} ({cols}); "
        f"then ALTER TABLE {ident(table)} ADD CONSTRAINT {ident(index)} {kind} USING INDEX "
        f"{ident(index)};" + ("  -- columns must already be NOT NULL" if primary else ""),
    )


def _validate(table: str, name: str, ctx: RuleContext) -> Iterator[Violation]:
    if ctx.in_transaction and f"{table}:{name}" in ctx.state.not_valid:
        yield gated(
            ctx,
            table,
            "validate-constraint-in-same-transaction",
            f"VALIDATE CONSTRAINT {name} runs while the lock taken by ADD ... NOT VALID is "
            "still held, so the scan blocks like a plain ADD CONSTRAINT",
            f"move ALTER TABLE {ident(table)} VALIDATE CONSTRAINT {ident(name)} to the "
            "next migration",
        )


def _drop_column(table: str, column: str) -> Violation:
    return Violation(
        "dropping-column",
        Severity.ERROR,
        f"DROP COLUMN {table}.{column} deletes its data, and running code that still "
        "selects or inserts it fails",
        "release code that no longer uses the column first, then drop it in a later "
        "migration with '-- pa:allow dropping-column <reason>'",
    )


def check_rename(node: ast.RenameStmt, ctx: RuleContext) -> Iterator[Violation]:
    """Renames are instant but break every running query that uses the old name."""
    if node.relation is None:
        return
    table = relation_key(node.relation)
    if ctx.is_new(table):
        return
    new = str(node.newname)
    if node.renameType == ObjectType.OBJECT_COLUMN:
        old = str(node.subname)
        yield Violation(
            "renaming-column",
            Severity.ERROR,
            f"RENAME COLUMN {table}.{old} breaks running code that uses {old}",
            f"ALTER TABLE {ident(table)} ADD COLUMN {ident(new)} <type>; write both columns, "
            f"backfill, switch reads to {new}, then drop {old} in a later migration",
        )
    elif node.renameType == ObjectType.OBJECT_TABLE:
        yield Violation(
            "renaming-table",
            Severity.ERROR,
            f"RENAME {table} TO {new} breaks running code that uses {table}",
            f"ALTER TABLE {ident(table)} RENAME TO {ident(new)}; CREATE VIEW {ident(table)} "
            f"AS SELECT * FROM {ident(new)}; (in one migration) then drop the view once "
            "no code uses the old name",
        )
