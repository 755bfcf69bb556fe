"""Turn one source migration into the text of a pa-db migration file.

The up and down keep their SQL as written, comments included, with two changes that
are always noted in the file and in the report: a ``BEGIN`` ... ``COMMIT`` around the
whole file is dropped (pa-db wraps each migration in its own transaction), and a
migration holding a statement that cannot run in a transaction block is marked
``-- migrate:no-transaction`` (found in the parse tree, see :mod:`.statements`). An
empty section becomes an explicit, recorded no-op. The result is parsed with pa-db's
own file parser before it is accepted, so what is written is what ``up`` will run.
"""

from __future__ import annotations

from pathlib import Path

from pglast import parser

from personal_assistant.database.migrations.errors import MigrationFileError
from personal_assistant.database.migrations.files import (
    DOWN_MARKER,
    NO_TRANSACTION_MARKER,
    SUFFIX,
    UP_MARKER,
    VERSION_DIGITS,
    parse_migration,
)
from personal_assistant.database.migrations.importers.model import (
    ConvertedFile,
    Origin,
    Skipped,
    SourceMigration,
)
from personal_assistant.database.migrations.importers.statements import (
    CleanSection,
    UnmappableSql,
    clean_section,
    line_of,
    no_transaction_reason,
)

UNWRAPPED = "its BEGIN/COMMIT was dropped: pa-db runs each migration in its own transaction"


def file_name(version: str, description: str) -> str:
    """``("1", "create users")`` -> ``0001_create_users.sql`` (ASCII letters and digits)."""
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in description)
    slug = "_".join(part for part in cleaned.split("_") if part) or "migration"
    return f"{version.zfill(VERSION_DIGITS)}_{slug}{SUFFIX}"


class _Unmappable(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def _clean(text: str, origin: Origin) -> CleanSection:
    """The section parsed, without a wrapping transaction."""
    try:
        return clean_section(text)
    except parser.ParseError as exc:
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        raise _Unmappable(origin.at(line_of(text, location)), str(exc.args[0])) from exc
    except UnmappableSql as exc:
        raise _Unmappable(origin.file, str(exc)) from exc


def _no_transaction(section: CleanSection, origin: Origin) -> tuple[str, int] | None:
    """The first statement that cannot run in a transaction: ``(why at where, count)``."""
    for span in section.spans:
        reason = no_transaction_reason(span.node)
        if reason is not None:
            where = origin.at(line_of(section.text, span.start))
            return f"{reason} at {where}", len(section.spans)
    return None


def _section(section: CleanSection, origin: Origin) -> str:
    body = section.text.strip("\n")
    if section.spans:
        return body
    empty = f"-- empty in {origin.file}: a recorded no-op"
    return f"{body}\n{empty}" if body.strip() else empty


def render(
    tool: str,
    m: SourceMigration,
    up: CleanSection,
    down: CleanSection | None,
    notes: list[str],
    outside: bool,
) -> str:
    """The pa-db file: provenance and notes as comments, then the marked sections."""
    lines = [f"-- Imported from {tool}: {', '.join(m.sources)}"]
    lines += [f"-- Note: {note}" for note in notes]
    if outside:
        lines.append(f"-- {NO_TRANSACTION_MARKER}")
    lines += [f"-- {UP_MARKER}", _section(up, m.up_at)]
    if down is not None and m.down_at is not None:
        lines += [f"-- {DOWN_MARKER}", _section(down, m.down_at)]
    return "\n".join(lines) + "\n"


def _outside(m: SourceMigration, up: CleanSection, down: CleanSection | None) -> list[str]:
    """Notes saying why the migration runs outside a transaction; none if it need not."""
    if m.no_transaction is not None:
        return [f"runs outside a transaction: {m.no_transaction}"]
    found = _no_transaction(up, m.up_at)
    if found is None and down is not None and m.down_at is not None:
        found = _no_transaction(down, m.down_at)
    if found is None:
        return []
    reason, count = found
    notes = [f"runs outside a transaction: {reason}"]
    if count > 1:
        notes.append(
            f"the other {count - 1} statement(s) of that section run outside a transaction "
            "too; split the file if they must be atomic"
        )
    return notes


def convert(tool: str, m: SourceMigration) -> ConvertedFile | Skipped:
    """The pa-db file for ``m``, or why there cannot be one."""
    try:
        up = _clean(m.up, m.up_at)
        down = None
        if m.down is not None and m.down_at is not None:
            down = _clean(m.down, m.down_at)
    except _Unmappable as exc:
        return Skipped(exc.where, exc.reason)
    notes = _outside(m, up, down)
    outside = bool(notes)
    if up.unwrapped or (down is not None and down.unwrapped):
        notes.append(UNWRAPPED)
    name = file_name(m.version, m.description)
    text = render(tool, m, up, down, notes, outside)
    try:
        parsed = parse_migration(text, Path(name))
    except MigrationFileError as exc:
        return Skipped(m.up_at.file, f"becomes {name}, which pa-db rejects: {exc.message}")
    return ConvertedFile(parsed.version, name, text, m.sources, tuple(notes))
