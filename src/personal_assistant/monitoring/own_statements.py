"""The service's own statements: tagged, recognised, and left out of "slowest statements".

The monitoring reads PostgreSQL all the time (the probe, server figures, the baseline,
readiness's and the dashboard's migration status). Unmarked, those reads crowd the
lists an operator opens to find the application's slow statements. So each of them
starts with :data:`TAG`, a SQL comment: PostgreSQL ignores it, pg_stat_statements keeps
it in the statement's text (not in its ``queryid``), and pglast keeps it in the
normalized text (not in the fingerprint, see :mod:`.fingerprint`).

SQL the monitoring writes itself for asyncpg carries the tag literally; statements
that SQLAlchemy or the migration manager compile go through :func:`tagged_engine`, an
engine whose every statement gets the prefix. asyncpg's own type-introspection query
(sent by the driver when it meets a type it does not know) is recognised by its text.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

TAG = "/* pa:monitoring */"
#: Every statement the project marks as its own starts with this.
OWN_PREFIX = "/* pa:"
#: How asyncpg's type-introspection query starts (``asyncpg/introspection.py``).
ASYNCPG_INTROSPECTION_PREFIX = "WITH RECURSIVE typeinfo_tree("
#: Execution option that makes :func:`_prefix` tag a statement.
TAG_OPTION = "pa_statement_tag"

_tagged: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def tagged(sql: str) -> str:
    """``sql`` with the monitoring tag in front."""
    return f"{TAG} {sql.lstrip()}"


def is_own(sql: str) -> bool:
    """Whether ``sql`` (raw or normalized) is the project's or the driver's own."""
    return sql.lstrip().startswith((OWN_PREFIX, ASYNCPG_INTROSPECTION_PREFIX))


def _prefix(
    conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
) -> tuple[str, Any]:
    tag = context.execution_options.get(TAG_OPTION) if context is not None else None
    if tag and not statement.startswith(tag):
        statement = f"{tag} {statement}"
    return statement, params


def tagged_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` sharing its pool, with every statement prefixed by :data:`TAG`.

    The listener sits on this option engine only, so the application's statements
    pay nothing for it. One tagged engine is kept per engine (weakly).
    """
    option = _tagged.get(engine)
    if option is None:
        option = engine.execution_options(**{TAG_OPTION: TAG})
        event.listen(option.sync_engine, "before_cursor_execute", _prefix, retval=True)
        _tagged[engine] = option
    return option
