"""The rule catalogue, the dispatcher, and the rules that judge whole statements.

Every rule is a pure function of one parsed statement and a :class:`RuleContext`; it
yields :class:`Violation` values (rule id, severity, message, hint). Rule ids are
stable: ``-- pa:allow`` comments and the migration tracking table refer to them.
``ALTER TABLE`` sub-commands live in :mod:`.alter_rules` and column style in
:mod:`.style_rules`; this module dispatches to them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from pglast import ast
from pglast.enums import ObjectType, ReindexObjectType, TransactionStmtKind

from personal_assistant.database.migrations.validation import alter_rules, style_rules
from personal_assistant.database.migrations.validation.context import RuleContext, Severity
from personal_assistant.database.migrations.validation.relations import relation_key
from personal_assistant.database.migrations.validation.verdicts import (
    Violation,
    gated,
    ident,
    in_transaction,
    sql,
)

#: Rule id → one-line summary. ``docs/migration-safety.md`` documents each of them.
CATALOGUE: dict[str, str] = {
    "adding-not-null-column": "ADD COLUMN ... NOT NULL without DEFAULT fails on a non-empty table",
    "adding-volatile-default": "ADD COLUMN whose value is computed per row rewrites the table",
    "create-index-non-concurrently": "CREATE INDEX without CONCURRENTLY blocks writes",
    "drop-index-non-concurrently": "DROP INDEX without CONCURRENTLY blocks reads and writes",
    "reindex-non-concurrently": "REINDEX without CONCURRENTLY blocks writes",
    "concurrently-in-transaction": "CONCURRENTLY cannot run inside a transaction block",
    "transaction-control-in-migration": "BEGIN/COMMIT inside a migration the runner wraps",
    "changing-column-type": "ALTER COLUMN TYPE that rewrites or narrows the column",
    "setting-not-null": "SET NOT NULL without a validated CHECK scans under an exclusive lock",
    "constraint-missing-not-valid": "FOREIGN KEY or CHECK validated under lock",
    "validate-constraint-in-same-transaction": "VALIDATE in the transaction that added it",
    "adding-unique-constraint": "UNIQUE/EXCLUDE constraint builds its index under lock",
    "adding-primary-key": "PRIMARY KEY builds its index under lock",
    "adding-domain-constraint": "ALTER DOMAIN ADD CONSTRAINT checks every column of the type",
    "renaming-column": "renaming a column breaks the running application",
    "renaming-table": "renaming a table breaks the running application",
    "dropping-column": "dropping a column loses data and breaks the running application",
    "dropping-table": "dropping a table loses data",
    "dropping-schema": "dropping a schema loses every object in it",
    "dropping-database": "dropping a database loses everything in it",
    "truncating-table": "TRUNCATE loses data under an ACCESS EXCLUSIVE lock",
    "update-without-where": "UPDATE of every row of a large table in one transaction",
    "delete-without-where": "DELETE of every row of a large table in one transaction",
    "vacuum-full": "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
    "cluster": "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
    "lock-table": "explicit LOCK TABLE blocks writers until the migration commits",
    "set-logged-unlogged": "SET LOGGED/UNLOGGED rewrites the table",
    "set-tablespace": "SET TABLESPACE copies the table under ACCESS EXCLUSIVE",
    "prefer-bigint": "int/serial keys run out at 2,147,483,647",
    "prefer-jsonb": "json keeps text and cannot be indexed well",
    "prefer-timestamptz": "timestamp without time zone loses the offset",
    "prefer-text": "varchar(n)/char(n) limits need a rewrite to change",
    "invalid-suppression": "a -- pa:allow comment without a reason or with an unknown rule",
    "identifier-too-long": "an identifier over 63 bytes is silently truncated",
}

#: ``LOCK TABLE`` modes from SHARE up block INSERT/UPDATE/DELETE.
_SHARE_LOCK = 5
_ERROR = Severity.ERROR


def _index(node: ast.IndexStmt, ctx: RuleContext) -> Iterator[Violation]:
    table = relation_key(node.relation)
    if node.concurrent:
        if ctx.in_transaction:
            yield in_transaction(ctx, "CREATE INDEX CONCURRENTLY")
        return
    safe = copy.deepcopy(node)
    safe.concurrent = True
    yield gated(
        ctx,
        table,
        "create-index-non-concurrently",
        f"CREATE INDEX on {table} takes a SHARE lock: writes wait for the whole build",
        f"{sql(safe)};  -- in a '-- migrate:no-transaction' migration",
    )


def _drop(node: ast.DropStmt, ctx: RuleContext) -> Iterator[Violation]:
    names = [
        ".".join(str(p.sval) for p in obj if isinstance(p, ast.String))
        for obj in node.objects or ()
        if isinstance(obj, tuple | list)
    ]
    kind = node.removeType
    if kind == ObjectType.OBJECT_INDEX:
        yield from _drop_index(node, names, ctx)
    elif kind == ObjectType.OBJECT_TABLE:
        for name in names:
            if not ctx.is_new(name):
                yield Violation(
                    "dropping-table",
                    _ERROR,
                    f"DROP TABLE {name} deletes its data; running code that reads it fails",
                    f"stop using {name} in a release first, then drop it in a later migration "
                    f"with '-- pa:allow dropping-table <reason>' (keep a backup: "
                    f"ALTER TABLE {ident(name)} RENAME TO {ident(name)}_old is undoable)",
                )
    elif kind == ObjectType.OBJECT_SCHEMA:
        for obj in node.objects or ():
            name = str(obj.sval) if isinstance(obj, ast.String) else "?"
            yield Violation(
                "dropping-schema",
                _ERROR,
                f"DROP SCHEMA {name} deletes every table, view and function in it",
                f"drop the objects one by one in reviewed migrations; if intended, add "
                f"'-- pa:allow dropping-schema <reason>' above DROP SCHEMA {ident(name)}",
            )


def _drop_index(node: ast.DropStmt, names: list[str], ctx: RuleContext) -> Iterator[Violation]:
    if node.concurrent:
        if ctx.in_transaction:
            yield in_transaction(ctx, "DROP INDEX CONCURRENTLY")
        return
    for name in names:
        yield gated(
            ctx,
            name,
            "drop-index-non-concurrently",
            f"DROP INDEX {name} takes ACCESS EXCLUSIVE on its table: reads queue behind it",
            f"DROP INDEX CONCURRENTLY IF EXISTS {ident(name)};  "
            "-- in a '-- migrate:no-transaction' migration",
        )


def _reindex(node: ast.ReindexStmt, ctx: RuleContext) -> Iterator[Violation]:
    params = {str(p.defname) for p in node.params or () if isinstance(p, ast.DefElem)}
    if "concurrently" in params:
        if ctx.in_transaction:
            yield in_transaction(ctx, "REINDEX CONCURRENTLY")
        return
    safe = copy.deepcopy(node)
    safe.params = (*(node.params or ()), ast.DefElem(defname="concurrently"))
    hint = f"{sql(safe)};  -- in a '-- migrate:no-transaction' migration"
    message = "REINDEX takes ACCESS EXCLUSIVE on the index and SHARE on its table"
    kind = node.kind
    if node.relation is not None and kind in (
        ReindexObjectType.REINDEX_OBJECT_TABLE,
        ReindexObjectType.REINDEX_OBJECT_INDEX,
    ):
        yield gated(ctx, relation_key(node.relation), "reindex-non-concurrently", message, hint)
    else:
        yield Violation("reindex-non-concurrently", _ERROR, f"{message}, for many tables", hint)


def _truncate(node: ast.TruncateStmt, ctx: RuleContext) -> Iterator[Violation]:
    for rel in node.relations or ():
        table = relation_key(rel)
        if not ctx.is_new(table):
            yield Violation(
                "truncating-table",
                _ERROR,
                f"TRUNCATE {table} deletes every row under ACCESS EXCLUSIVE (and "
                "CASCADE reaches referencing tables)",
                f"DELETE FROM {ident(table)} WHERE <condition> in batches outside the "
                "migration, or '-- pa:allow truncating-table <reason>' if it is scratch data",
            )


def _unbounded(
    rule: str, verb: str, relation: ast.RangeVar | None, where: object, ctx: RuleContext
) -> Iterator[Violation]:
    if where is not None:
        return
    table = relation_key(relation)
    yield gated(
        ctx,
        table,
        rule,
        f"{verb} without WHERE touches every row of {table} in one transaction: row locks "
        "on all of them, WAL and dead tuples for the whole table",
        f"batch it outside the migration: {verb} ... WHERE id IN (SELECT id FROM "
        f"{ident(table)} WHERE <not yet done> LIMIT 10000); repeat until 0 rows",
    )


def _update(node: ast.UpdateStmt, ctx: RuleContext) -> Iterator[Violation]:
    yield from _unbounded("update-without-where", "UPDATE", node.relation, node.whereClause, ctx)


def _delete(node: ast.DeleteStmt, ctx: RuleContext) -> Iterator[Violation]:
    yield from _unbounded("delete-without-where", "DELETE", node.relation, node.whereClause, ctx)


def _vacuum(node: ast.VacuumStmt, ctx: RuleContext) -> Iterator[Violation]:
    options = {str(o.defname) for o in node.options or () if isinstance(o, ast.DefElem)}
    if "full" not in options:
        return
    message = "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE"
    hint = "use plain VACUUM, or pg_repack / pg_squeeze to compact without blocking"
    rels = [r.relation for r in node.rels or () if isinstance(r, ast.VacuumRelation)]
    if not rels:
        yield Violation("vacuum-full", _ERROR, f"{message}, for every table", hint)
    for rel in rels:
        if rel is not None:
            yield gated(ctx, relation_key(rel), "vacuum-full", message, hint)


def _cluster(node: ast.ClusterStmt, ctx: RuleContext) -> Iterator[Violation]:
    message = "CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE"
    hint = "use pg_repack --order-by, which reorders without the long lock"
    if node.relation is None:
        yield Violation("cluster", _ERROR, f"{message}, for every clustered table", hint)
    else:
        yield gated(ctx, relation_key(node.relation), "cluster", message, hint)


def _lock(node: ast.LockStmt, ctx: RuleContext) -> Iterator[Violation]:
    if int(node.mode or 0) < _SHARE_LOCK:
        return
    for rel in node.relations or ():
        table = relation_key(rel)
        if not ctx.is_new(table):
            yield Violation(
                "lock-table",
                _ERROR,
                f"LOCK TABLE {table} blocks every writer (and in ACCESS EXCLUSIVE mode every "
                "reader) until the migration commits",
                "drop the explicit lock: each statement takes the lock it needs; set "
                "lock_timeout so a queued lock gives up instead of stalling traffic",
            )


def _transaction(node: ast.TransactionStmt, ctx: RuleContext) -> Iterator[Violation]:
    if ctx.in_transaction and node.kind != TransactionStmtKind.TRANS_STMT_SAVEPOINT:
        yield Violation(
            "transaction-control-in-migration",
            _ERROR,
            "the runner already wraps this migration in a transaction; BEGIN/COMMIT "
            "here splits it and the version row no longer commits with the schema change",
            "remove BEGIN/COMMIT, or add '-- migrate:no-transaction' to manage "
            "transactions yourself",
        )


def _dropdb(node: ast.DropdbStmt, ctx: RuleContext) -> Iterator[Violation]:
    yield Violation(
        "dropping-database",
        _ERROR,
        f"DROP DATABASE {node.dbname} deletes everything in it",
        "databases are not dropped by migrations; do it by hand after a backup",
    )


def _alter_domain(node: ast.AlterDomainStmt, ctx: RuleContext) -> Iterator[Violation]:
    con = node.def_
    if node.subtype != "C" or not isinstance(con, ast.Constraint) or con.skip_validation:
        return
    safe = copy.deepcopy(node)
    safe_con = copy.deepcopy(con)
    safe_con.skip_validation = True
    safe.def_ = safe_con
    name = ".".join(str(p.sval) for p in node.typeName or () if isinstance(p, ast.String))
    yield Violation(
        "adding-domain-constraint",
        _ERROR,
        f"ALTER DOMAIN {name} ADD CONSTRAINT checks every column of every table using the "
        "domain while holding locks on them",
        f"{sql(safe)}; then in a later migration: ALTER DOMAIN {ident(name)} VALIDATE "
        f"CONSTRAINT {ident(str(con.conname or '<name>'))};",
    )


def check_statement(node: ast.Node, ctx: RuleContext) -> Iterator[Violation]:
    """Run every rule that applies to ``node``'s statement type."""
    match node:
        case ast.AlterTableStmt():
            yield from alter_rules.check_alter_table(node, ctx)
        case ast.CreateStmt():
            yield from style_rules.check_create_table(node, ctx)
        case ast.IndexStmt():
            yield from _index(node, ctx)
        case ast.DropStmt():
            yield from _drop(node, ctx)
        case ast.RenameStmt():
            yield from alter_rules.check_rename(node, ctx)
        case ast.ReindexStmt():
            yield from _reindex(node, ctx)
        case ast.TruncateStmt():
            yield from _truncate(node, ctx)
        case ast.UpdateStmt():
            yield from _update(node, ctx)
        case ast.DeleteStmt():
            yield from _delete(node, ctx)
        case ast.VacuumStmt():
            yield from _vacuum(node, ctx)
        case ast.ClusterStmt():
            yield from _cluster(node, ctx)
        case ast.LockStmt():
            yield from _lock(node, ctx)
        case ast.TransactionStmt():
            yield from _transaction(node, ctx)
        case ast.DropdbStmt():
            yield from _dropdb(node, ctx)
        case ast.AlterDomainStmt():
            yield from _alter_domain(node, ctx)
