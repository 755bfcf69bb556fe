"""Statement-level decisions of ``import``, read from PostgreSQL's parse tree (pglast).

Two questions, never answered with regular expressions: can this statement run inside
a transaction block (``CREATE INDEX CONCURRENTLY`` cannot, nor ``VACUUM``), and is a
``BEGIN`` ... ``COMMIT`` pair merely wrapping the file (pa-db wraps each migration in
its own transaction, so it is dropped) or something the runner cannot reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, parser
from pglast.enums import AlterTableType, ReindexObjectType, TransactionStmtKind

_K = TransactionStmtKind
_OPENERS = (_K.TRANS_STMT_BEGIN, _K.TRANS_STMT_START)
_MANY_TABLES = (
    ReindexObjectType.REINDEX_OBJECT_SCHEMA,
    ReindexObjectType.REINDEX_OBJECT_SYSTEM,
    ReindexObjectType.REINDEX_OBJECT_DATABASE,
)


class UnmappableSql(ValueError):
    """The SQL does something a pa-db migration cannot do; the message says what."""


@dataclass(frozen=True)
class Span:
    """One top-level statement: ``text[start:end]`` (no ``;``) and its parse tree."""

    start: int
    end: int
    node: ast.Node


def spans(text: str) -> list[Span]:
    """Every statement of ``text``; raises ``pglast.parser.ParseError``."""
    found = []
    for raw in parser.parse_sql(text):
        if raw.stmt is None:
            continue
        start = raw.stmt_location or 0
        found.append(Span(start, start + raw.stmt_len if raw.stmt_len else len(text), raw.stmt))
    return found


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _cut(text: str, span: Span) -> str:
    """``text`` without the statement and its ``;``."""
    end = span.end
    rest = text[end:]
    stripped = rest.lstrip(" \t")
    if stripped.startswith(";"):
        end += len(rest) - len(stripped) + 1
    return text[: span.start] + text[end:]


@dataclass(frozen=True)
class CleanSection:
    """A section's text once a wrapping transaction is gone, and its statements."""

    text: str
    spans: list[Span]
    unwrapped: bool


def clean_section(text: str) -> CleanSection:
    """Parse ``text`` and drop a ``BEGIN`` ... ``COMMIT`` around it (parsed once more only
    then). Raises :class:`UnmappableSql` and ``pglast.parser.ParseError``."""
    found = spans(text)
    cleaned, unwrapped = strip_wrapping_transaction(text, found)
    return CleanSection(cleaned, spans(cleaned) if unwrapped else found, unwrapped)


def strip_wrapping_transaction(text: str, found: list[Span] | None = None) -> tuple[str, bool]:
    """``text`` without a ``BEGIN`` ... ``COMMIT`` around all of it; ``True`` if removed.

    Raises :class:`UnmappableSql` for any other transaction control (``COMMIT`` half-way,
    ``SAVEPOINT``): the runner owns the transaction, so such a file must be split.
    ``found`` are ``text``'s statements when they are already parsed.
    """
    found = spans(text) if found is None else found
    control = [i for i, s in enumerate(found) if isinstance(s.node, ast.TransactionStmt)]
    if not control:
        return text, False
    first, last = found[0].node, found[-1].node
    wraps = (
        control == [0, len(found) - 1]
        and isinstance(first, ast.TransactionStmt)
        and first.kind in _OPENERS
        and isinstance(last, ast.TransactionStmt)
        and last.kind == _K.TRANS_STMT_COMMIT
    )
    if not wraps:
        at = found[control[0]]
        raise UnmappableSql(
            f"line {line_of(text, at.start)}: transaction control "
            f"({text[at.start : at.end].strip()!r}) that does not just wrap the whole file; "
            "split it into one migration per transaction"
        )
    return _cut(_cut(text, found[-1]), found[0]), True


def _reindex(node: ast.ReindexStmt) -> str | None:
    options = {str(p.defname) for p in node.params or () if isinstance(p, ast.DefElem)}
    if "concurrently" in options:
        return "REINDEX CONCURRENTLY"
    return "REINDEX of a schema, the system or a database" if node.kind in _MANY_TABLES else None


def _alter_table(node: ast.AlterTableStmt) -> str | None:
    for cmd in node.cmds or ():
        if (
            isinstance(cmd, ast.AlterTableCmd)
            and cmd.subtype == AlterTableType.AT_DetachPartition
            and isinstance(cmd.def_, ast.PartitionCmd)
            and cmd.def_.concurrent
        ):
            return "DETACH PARTITION CONCURRENTLY"
    return None


def no_transaction_reason(node: ast.Node) -> str | None:
    """Why ``node`` must run outside a transaction block, or ``None`` if it need not."""
    match node:
        case ast.IndexStmt(concurrent=True):
            return "CREATE INDEX CONCURRENTLY"
        case ast.DropStmt(concurrent=True):
            return "DROP INDEX CONCURRENTLY"
        case ast.ReindexStmt():
            return _reindex(node)
        case ast.VacuumStmt(is_vacuumcmd=True):
            return "VACUUM"
        case ast.AlterEnumStmt() if node.newVal is not None and node.oldVal is None:
            return (
                "ALTER TYPE ... ADD VALUE (refused in a transaction before PostgreSQL 12, "
                "and the new value is unusable until it commits)"
            )
        case ast.CreatedbStmt() | ast.DropdbStmt():
            return "CREATE/DROP DATABASE"
        case ast.CreateTableSpaceStmt() | ast.DropTableSpaceStmt():
            return "CREATE/DROP TABLESPACE"
        case ast.AlterSystemStmt():
            return "ALTER SYSTEM"
        case ast.ClusterStmt(relation=None):
            return "CLUSTER without a table"
        case ast.AlterTableStmt():
            return _alter_table(node)
    return None
