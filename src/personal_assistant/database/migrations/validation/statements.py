"""Turn migration text into parsed statements with line numbers and suppressions.

SQL is parsed only by pglast (PostgreSQL's own parser), so string literals, dollar
quotes and comments can never be mistaken for statements. Comments are found with
pglast's scanner too: a ``-- pa:allow`` inside a string literal is not a suppression.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pglast import ast, parser
from pglast.enums import ObjectType

from personal_assistant.database.migrations.files import (
    DOWN_MARKER,
    NO_TRANSACTION_MARKER,
    UP_MARKER,
)
from personal_assistant.database.migrations.validation.errors import MigrationParseError

ALLOW_PREFIX = "pa:allow"

#: Relations named by these ``DROP`` kinds are looked up in the database like tables.
_DROPPED_RELATIONS = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX)


@dataclass(frozen=True)
class Allow:
    """A ``-- pa:allow RULE reason`` comment; ``reason`` is empty when none was given."""

    rule: str
    reason: str
    line: int


@dataclass(frozen=True)
class Statement:
    """One top-level statement, its first line (1-based, in the file) and its allows."""

    node: ast.Node
    line: int
    allows: tuple[Allow, ...] = ()


@dataclass(frozen=True)
class Section:
    """The part of a file that ``migrate up`` runs, and how it runs it."""

    sql: str
    first_line: int
    in_transaction: bool


class _Lines:
    """Map character offsets to 1-based line numbers in ``O(log n)``."""

    def __init__(self, text: str, first_line: int) -> None:
        self._starts = [i for i, ch in enumerate(text) if ch == "\n"]
        self._first = first_line

    def __call__(self, offset: int) -> int:
        return self._first + bisect_right(self._starts, offset - 1)


def _comments(sql: str, path: str, first_line: int) -> list[parser.Token]:
    """The ``--`` comment tokens of ``sql``, found by PostgreSQL's scanner."""
    try:
        tokens = parser.scan(sql)
    except parser.ParseError as exc:
        raise _parse_error(exc, sql, path, first_line) from exc
    return [tok for tok in tokens if tok.name == "SQL_COMMENT"]


def _comment_text(sql: str, tok: parser.Token) -> str:
    return sql[tok.start : tok.end + 1].removeprefix("--").strip()


def _parse_error(exc: parser.ParseError, sql: str, path: str, first_line: int) -> Exception:
    location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
    return MigrationParseError(path, _Lines(sql, first_line)(location), str(exc.args[0]))


def up_section(text: str, path: str = "<string>") -> Section:
    """Cut the ``-- migrate:up`` section out of a migration file, leniently.

    Unlike ``files.parse_migration`` (which the runner uses and which rejects a file
    without an up marker or a proper name), lint accepts any ``.sql`` file: one
    without markers is entirely "up", and a ``-- migrate:no-transaction`` line
    anywhere still means it runs outside a transaction (it matters for CONCURRENTLY).
    """
    start, end, in_transaction = 0, len(text), True
    for tok in _comments(text, path, 1):
        marker = _comment_text(text, tok)
        if marker == UP_MARKER:
            start = tok.end + 1
        elif marker == DOWN_MARKER and tok.start >= start:
            end = tok.start
        elif marker == NO_TRANSACTION_MARKER:
            in_transaction = False
    first_line = text.count("\n", 0, start) + 1
    return Section(text[start:end], first_line, in_transaction)


def _parse_allow(text: str, line: int) -> Iterator[Allow]:
    """``pa:allow rule-a,rule-b reason words`` → one ``Allow`` per rule."""
    rest = text.removeprefix(ALLOW_PREFIX).strip()
    rules, _, reason = rest.partition(" ")
    for rule in filter(None, rules.split(",")):
        yield Allow(rule.strip(), reason.strip(), line)


def parse_statements(
    sql: str, *, path: str = "<string>", first_line: int = 1
) -> tuple[Statement, ...]:
    """Parse ``sql`` into statements; each gets the ``pa:allow`` comments above it.

    Raises :class:`MigrationParseError` with the file line of the syntax error.
    """
    try:
        raw = parser.parse_sql(sql)
    except parser.ParseError as exc:
        raise _parse_error(exc, sql, path, first_line) from exc
    lines = _Lines(sql, first_line)
    allows = [
        (tok.start, _comment_text(sql, tok))
        for tok in _comments(sql, path, first_line)
        if _comment_text(sql, tok).startswith(ALLOW_PREFIX)
    ]
    result: list[Statement] = []
    previous_end = 0
    for stmt in raw:
        if stmt.stmt is None:
            continue
        location = stmt.stmt_location or 0
        own = tuple(
            allow
            for offset, text in allows
            if previous_end <= offset < location
            for allow in _parse_allow(text, lines(offset))
        )
        result.append(Statement(stmt.stmt, lines(location), own))
        previous_end = location + (stmt.stmt_len or len(sql) - location)
    return tuple(result)


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
