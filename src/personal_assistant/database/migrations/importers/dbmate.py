"""dbmate: ``{version}_{name}.sql`` already split by ``-- migrate:up`` / ``-- migrate:down``.

dbmate's markers are pa-db's, with options after them: ``-- migrate:up
transaction:false`` becomes ``-- migrate:no-transaction`` (for the whole file: pa-db
decides per file, so a ``transaction:false`` on either section applies to both). The
markers are found by PostgreSQL's scanner, so one inside a string is not a marker.
"""

from __future__ import annotations

from pathlib import Path

from personal_assistant.database.migrations.errors import MigrationParseError
from personal_assistant.database.migrations.importers.model import (
    Origin,
    Reading,
    Skipped,
    SourceMigration,
)
from personal_assistant.database.migrations.importers.sources import (
    Unreadable,
    comments,
    files,
    read_text,
)
from personal_assistant.database.migrations.sql_parse import Comment, SqlText

TOOL = "dbmate"
UP, DOWN = "migrate:up", "migrate:down"
NO_TRANSACTION = "transaction:false"
KNOWN_OPTIONS = frozenset({NO_TRANSACTION, "transaction:true"})


def _markers(found: tuple[Comment, ...]) -> dict[str, tuple[Comment, tuple[str, ...]]]:
    """``{"migrate:up": (comment, options)}``; raises :class:`Unreadable` on a repeat."""
    markers: dict[str, tuple[Comment, tuple[str, ...]]] = {}
    for comment in found:
        head, *options = comment.text.split()
        if head in (UP, DOWN):
            if head in markers:
                raise Unreadable(f"a second '-- {head}' marker")
            unknown = set(options) - KNOWN_OPTIONS
            if unknown:
                raise Unreadable(f"unknown dbmate option(s) {', '.join(sorted(unknown))}")
            markers[head] = (comment, tuple(options))
    return markers


def _migration(name: str, version: str, title: str, text: str) -> SourceMigration:
    source, found = comments(text, name)
    markers = _markers(tuple(c for c in found if c.text))
    if UP not in markers:
        raise Unreadable("no '-- migrate:up' marker")
    up, up_options = markers[UP]
    down, down_options = markers.get(DOWN, (None, ()))
    if down is not None and down.start < up.start:
        raise Unreadable("'-- migrate:down' comes before '-- migrate:up'")
    try:
        preface = SqlText(text[: up.start], name).statements()
    except MigrationParseError as exc:
        raise Unreadable(f"line {exc.line}: {exc.message}") from exc
    if preface:
        raise Unreadable("SQL before '-- migrate:up', which dbmate never runs")
    outside = NO_TRANSACTION in (*up_options, *down_options)
    up_text = text[up.end : down.start if down is not None else len(text)]
    return SourceMigration(
        version,
        title,
        up_text,
        None if down is None else text[down.end :],
        Origin(name, source.line(up.start)),
        None if down is None else Origin(name, source.line(down.start)),
        f"dbmate {NO_TRANSACTION}" if outside else None,
    )


def read(directory: Path) -> Reading:
    """Every ``*.sql`` file of ``directory`` (dbmate does not look in subdirectories)."""
    migrations: list[SourceMigration] = []
    skipped: list[Skipped] = []
    for path, name in files(directory):
        version, sep, title = path.stem.partition("_")
        if path.suffix != ".sql" or not sep or not version.isdigit() or not version.isascii():
            skipped.append(Skipped(name, "not a dbmate migration name ({version}_{name}.sql)"))
            continue
        try:
            migrations.append(_migration(name, version, title, read_text(path)))
        except Unreadable as exc:
            skipped.append(Skipped(name, str(exc)))
    return Reading(TOOL, tuple(migrations), tuple(skipped))
