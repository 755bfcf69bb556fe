"""Quoting of identifiers in the SQL the optimizer generates.

Recommendations carry SQL that people copy and run, and that ``apply()`` executes:
a table named ``weird"; DROP TABLE x; --`` must come out as one quoted identifier.
SQLAlchemy's PostgreSQL identifier preparer does the quoting (doubling embedded
quotes, quoting reserved words and mixed case); it needs no connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.compiler import IdentifierPreparer


@lru_cache(maxsize=1)
def _preparer() -> IdentifierPreparer:
    return postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]


def quote(name: str) -> str:
    """``name`` as a SQL identifier, quoted when it needs to be."""
    return _preparer().quote_identifier(name) if _needs_quotes(name) else name


def _needs_quotes(name: str) -> bool:
    # The preparer's own test, plus: always quote what is not a plain lower-case word,
    # so that names with spaces or punctuation can never end the identifier early.
    prep = _preparer()
    return bool(prep._requires_quotes(name)) or not name.replace("_", "a").isalnum()


def qualified(schema: str, name: str) -> str:
    """``schema.name``, each part quoted."""
    return f"{quote(schema)}.{quote(name)}"


def column_list(columns: Iterable[str]) -> str:
    """``(a, "B")``: every name quoted as needed (only plain column names come here)."""
    return "(" + ", ".join(quote(c) for c in columns) + ")"
