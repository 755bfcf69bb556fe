"""Follow what earlier statements of a migration did, so later rules can rely on it.

``CREATE INDEX`` on a table created three lines earlier is harmless, and ``SET NOT
NULL`` right after a validated ``CHECK (col IS NOT NULL)`` does not scan. Each step
returns a new frozen :class:`MigrationState`; nothing is mutated.
"""

from __future__ import annotations

from dataclasses import replace

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, NullTestType, ObjectType

from personal_assistant.database.migrations.validation.context import MigrationState
from personal_assistant.database.migrations.validation.relations import relation_key

_NOT_VALID_KINDS = (ConstrType.CONSTR_CHECK, ConstrType.CONSTR_FOREIGN)


def not_null_check_column(con: ast.Constraint) -> str | None:
    """The column of a ``CHECK (column IS NOT NULL)`` constraint, else ``None``."""
    expr = con.raw_expr
    if con.contype != ConstrType.CONSTR_CHECK or not isinstance(expr, ast.NullTest):
        return None
    if expr.nulltesttype != NullTestType.IS_NOT_NULL or not isinstance(expr.arg, ast.ColumnRef):
        return None
    fields = expr.arg.fields or ()
    last = fields[-1] if fields else None
    return str(last.sval) if isinstance(last, ast.String) else None


def _index_name(node: ast.IndexStmt) -> str | None:
    if not node.idxname:
        return None
    schema = node.relation.schemaname if node.relation is not None else None
    return f"{schema}.{node.idxname}" if schema else str(node.idxname)


def _constraint(state: MigrationState, table: str, con: ast.Constraint) -> MigrationState:
    key = f"{table}:{con.conname}"
    column = not_null_check_column(con)
    if con.skip_validation and con.contype in _NOT_VALID_KINDS and con.conname:
        pending = dict(state.pending_not_null)
        if column is not None:
            pending[key] = (table, column)
        return replace(state, not_valid={**state.not_valid, key: table}, pending_not_null=pending)
    if column is not None:
        return replace(state, validated_not_null=state.validated_not_null | {(table, column)})
    return state


def _validated(state: MigrationState, table: str, name: str) -> MigrationState:
    proven = state.pending_not_null.get(f"{table}:{name}")
    if proven is None:
        return state
    return replace(state, validated_not_null=state.validated_not_null | {proven})


def _alter(state: MigrationState, node: ast.AlterTableStmt) -> MigrationState:
    table = relation_key(node.relation)
    for cmd in node.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd):
            continue
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            state = _constraint(state, table, cmd.def_)
        elif cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name:
            state = _validated(state, table, str(cmd.name))
    return state


def advance(state: MigrationState, node: ast.Node) -> MigrationState:
    """The state after ``node`` has run."""
    match node:
        case ast.CreateStmt():
            return state.with_table(relation_key(node.relation))
        case ast.CreateTableAsStmt() if node.into is not None:
            return state.with_table(relation_key(node.into.rel))
        case ast.IndexStmt():
            name = _index_name(node)
            return state if name is None else state.with_table(name)
        case ast.AlterTableStmt():
            return _alter(state, node)
        case ast.RenameStmt() if node.renameType == ObjectType.OBJECT_TABLE and node.relation:
            old = relation_key(node.relation)
            if old in state.tables_created:
                schema, new = node.relation.schemaname, str(node.newname)
                return state.with_table(f"{schema}.{new}" if schema else new)
    return state
