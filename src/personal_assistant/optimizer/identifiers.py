"""Quoting of identifiers in the SQL the optimizer generates.

Recommendations carry SQL that people copy and run, and that ``apply()`` executes, so
every name in it goes through the database layer's one quoting helper
(:mod:`personal_assistant.database.identifiers`); this module keeps the optimizer's
names for it and adds column lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from personal_assistant.database.identifiers import qualified, quote_identifier

__all__ = ["column_list", "qualified", "quote"]

#: ``name`` as a SQL identifier, quoted when it needs to be.
quote = quote_identifier


def column_list(columns: Iterable[str]) -> str:
    """``(a, "B")``: every name quoted as needed (only plain column names come here)."""
    return "(" + ", ".join(quote(c) for c in columns) + ")"
