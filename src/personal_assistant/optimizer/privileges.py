"""What the optimizer's role may not read, said as ``unavailable`` entries (pure).

The minimum grant is ``pg_monitor`` plus ``SELECT`` on the analysed tables. Every
check that a missing privilege turns off is listed, with the ``GRANT`` that turns it
back on; everything else still runs. docs/performance-optimization.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from personal_assistant.optimizer.identifiers import qualified, quote
from personal_assistant.optimizer.models import Privileges
from personal_assistant.optimizer.statements import shorten

#: How many object names an entry shows before "and N more".
_SHOWN = 3


def gaps(privileges: Privileges) -> list[str]:
    """One ``unavailable`` entry per check that the role's privileges turn off."""
    out = []
    if privileges.hidden_statements:
        out.append(hidden_statements(privileges))
    if privileges.unreadable_tables:
        out.append(unreadable_tables(privileges))
    if privileges.unreadable_sequences:
        out.append(unreadable_sequences(privileges))
    return out


def hidden_statements(p: Privileges) -> str:
    total = p.hidden_time_ms + p.visible_time_ms
    share = f" ({p.hidden_time_ms / total:.0%} of the recorded execution time)" if total else ""
    return (
        f"statements of other roles: {p.hidden_statements} statement(s){share} read "
        "'<insufficient privilege>' without pg_read_all_stats, so they are left out of "
        "the statement analysis and index suggestions; "
        f"GRANT pg_monitor TO {quote(p.role)} (or pg_read_all_stats)"
    )


def unreadable_tables(p: Privileges) -> str:
    names = p.unreadable_tables
    return (
        f"plans and bloat: role {p.role!r} cannot SELECT {len(names)} table(s) "
        f"({_some(names)}): statements on them are not planned or index-tested and "
        f"their bloat is not estimated; {_grant_all('TABLES', names, p.role)}"
    )


def unreadable_sequences(p: Privileges) -> str:
    names = p.unreadable_sequences
    return (
        f"sequence_exhaustion: role {p.role!r} cannot read {len(names)} sequence(s) "
        f"({_some(names)}): how far they have run is not checked; "
        f"{_grant_all('SEQUENCES', names, p.role)}"
    )


def unplanned_statements(role: str, refused: Sequence[str]) -> str:
    """Statements EXPLAIN refused for lack of privileges (writes need the write grant)."""
    return (
        f"statement plans: {len(refused)} statement(s) could not be planned by role "
        f"{role!r} for lack of privileges (e.g. {shorten(refused[0], 80)!r}; EXPLAIN of "
        "INSERT/UPDATE/DELETE needs that privilege on the table): their index "
        "suggestions are off; GRANT SELECT (and, to test write statements, the write "
        "privilege) on the tables, or accept it"
    )


def _some(names: Sequence[tuple[str, str]]) -> str:
    shown = ", ".join(qualified(*name) for name in names[:_SHOWN])
    more = len(names) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _grant_all(what: str, names: Iterable[tuple[str, str]], role: str) -> str:
    schemas = sorted({schema for schema, _ in names})
    return "; ".join(
        f"GRANT SELECT ON ALL {what} IN SCHEMA {quote(schema)} TO {quote(role)}"
        for schema in schemas
    )
