"""What a failed step says: which statement, which file line, and what it left behind.

A transactional section is sent to the server as one message, so a server error first
names a character ``position`` in that message (when PostgreSQL reports one: syntax,
unknown names, bad literals). :func:`locate` turns it into the statement and file line
without running anything again; errors without a position are located by running the
section again statement by statement (see :mod:`.runner`). Pure functions over the
section text and the driver's error fields, so they are tested without a server.

The ``*_STATE`` texts say, after a failure, in what state the database was left: the
CLI's failure summary and :attr:`MigrationFailedError.state` carry them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from personal_assistant.database.migrations.sql_parse import Statement

LOCK_NOT_AVAILABLE = "55P03"
#: Errors that depend on timing or on the connection, not on the SQL: running the
#: statements again one by one would not find the culprit (or would wait as long
#: again), so such an error is reported at the section's first line.
_NOT_REPRODUCIBLE = frozenset({"55P03", "57014", "40P01", "40001"})
_CONNECTION_CLASSES = ("08", "57P")

ROLLED_BACK_STATE = "rolled back cleanly: the database is as it was before this step"
UNKNOWN_STATE = (
    "unknown: the connection broke before the outcome was known; "
    "run 'pa-db migrate status' before anything else"
)
DIRTY_STATE = (
    "dirty, needs repair: it stopped half-way and is recorded as failed; clean up what "
    "the error lists, then 'pa-db migrate repair'"
)
UNCHANGED_STATE = "unchanged: it failed in its first statement and left nothing behind"


def partly_rolled_back_state(done: int, total: int) -> str:
    """After a no-transaction down stopped half-way."""
    return (
        f"partly rolled back, needs attention: {done} of {total} statement(s) of its down "
        "ran and it is still recorded as applied; fix the cause, then 'pa-db migrate down' "
        "runs the whole down again (write such downs with IF EXISTS)"
    )


def driver_error(error: Any) -> Any:
    """asyncpg's own error under SQLAlchemy's wrapping (``DBAPIError.orig.__cause__``)."""
    orig = getattr(error, "orig", None)
    if orig is None:
        return error
    return getattr(orig, "__cause__", None) or orig


def reason(error: Any) -> str:
    """``[SQLSTATE] message (detail)`` of a driver error (asyncpg's, or any exception)."""
    error = driver_error(error)
    sqlstate = getattr(error, "sqlstate", None)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    detail = getattr(error, "detail", None)
    prefix = f"[{sqlstate}] " if sqlstate else ""
    return prefix + message + (f" ({detail})" if detail else "")


def error_position(error: Any) -> int | None:
    """The 0-based character offset PostgreSQL reported into the statement sent, if any."""
    position = getattr(driver_error(error), "position", None)
    if position is None or not str(position).isdigit() or int(position) < 1:
        return None
    return int(position) - 1


def reproducible(error: Any) -> bool:
    """Whether running the same SQL again would fail the same way (not timing, not I/O)."""
    sqlstate = str(getattr(driver_error(error), "sqlstate", None) or "")
    if not sqlstate:
        return False
    return sqlstate not in _NOT_REPRODUCIBLE and not sqlstate.startswith(_CONNECTION_CLASSES)


@dataclass(frozen=True)
class Located:
    """Where in a file an error is: the line and the statement it belongs to."""

    line: int
    statement: str


def _spans(sql: str, statements: Sequence[Statement]) -> Iterator[tuple[int, Statement]]:
    """Each statement with its offset in ``sql`` (statements are ``sql``'s own text)."""
    cursor = 0
    for stmt in statements:
        found = sql.find(stmt.sql, cursor)
        if found < 0:  # not verbatim (never expected): keep the order, skip the offset
            continue
        yield found, stmt
        cursor = found + len(stmt.sql)


def locate(sql: str, first_line: int, statements: Sequence[Statement], offset: int) -> Located:
    """The file line of character ``offset`` of a section and the statement holding it."""
    offset = min(max(offset, 0), len(sql))
    line = first_line + sql.count("\n", 0, offset)
    holder = ""
    for start, stmt in _spans(sql, statements):
        if start > offset:
            break
        holder = stmt.sql
    return Located(line, holder)


def line_in_statement(stmt: Statement, error: Any) -> int:
    """The file line of an error raised by ``stmt`` run on its own."""
    offset = error_position(error)
    if offset is None:
        return stmt.line
    return stmt.line + stmt.sql.count("\n", 0, offset)
