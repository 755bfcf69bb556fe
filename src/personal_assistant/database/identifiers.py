"""Quoting identifiers in SQL the package builds: the one helper every area uses.

Names cannot travel as bound parameters, so they are quoted instead, by SQLAlchemy's
PostgreSQL identifier preparer (it doubles embedded quotes and quotes reserved words,
mixed case and leading digits; it needs no connection). A plain lower-case word stays
bare so generated SQL reads naturally; anything that is not letters, digits and
underscores is always quoted, so no name can end the identifier early: a table named
``weird"; DROP TABLE x; --`` comes out as one quoted identifier.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.compiler import IdentifierPreparer

__all__ = ["qualified", "quote_identifier"]


@lru_cache(maxsize=1)
def _preparer() -> IdentifierPreparer:
    return postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]


def quote_identifier(name: str) -> str:
    """``name`` as one SQL identifier, quoted when it needs to be."""
    preparer = _preparer()
    if name.replace("_", "a").isalnum():
        return preparer.quote(name)  # quotes only reserved words, mixed case, digits first
    return preparer.quote_identifier(name)


def qualified(schema: str, name: str) -> str:
    """``schema.name``, each part quoted as needed."""
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"
