"""goose: ``{version}_{name}.sql`` with ``-- +goose Up`` / ``-- +goose Down`` annotations.

``-- +goose NO TRANSACTION`` becomes ``-- migrate:no-transaction``; ``StatementBegin``
/ ``StatementEnd`` are dropped (pa-db splits statements with PostgreSQL's parser, so a
``;`` inside a function body never needed them). Go migrations and files that use
``-- +goose ENVSUBST ON`` (substitution at run time) are listed, not imported.
Annotations are found by PostgreSQL's scanner and matched exactly, as goose does.
"""

from __future__ import annotations

from pathlib import Path

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
from personal_assistant.database.migrations.sql_parse import Comment

TOOL = "goose"
UP, DOWN = "+goose Up", "+goose Down"
NO_TRANSACTION = "+goose NO TRANSACTION"
ENVSUBST_ON = "+goose ENVSUBST ON"
DROPPED = frozenset(
    {"+goose StatementBegin", "+goose StatementEnd", "+goose ENVSUBST OFF", NO_TRANSACTION}
)


def _without(text: str, start: int, end: int, dropped: list[Comment]) -> str:
    """``text[start:end]`` with the dropped annotations blanked out."""
    parts, at = [], start
    for comment in dropped:
        if start <= comment.start < end:
            parts.append(text[at : comment.start])
            at = comment.end
    parts.append(text[at:end])
    return "".join(parts)


def _migration(name: str, version: str, title: str, text: str) -> SourceMigration:
    source, found = comments(text, name)
    kinds = [c.text for c in found]
    if ENVSUBST_ON in kinds:
        raise Unreadable(
            "uses '-- +goose ENVSUBST ON' (substitution at run time): substitute by hand"
        )
    for kind in (UP, DOWN):
        if kinds.count(kind) > 1:
            raise Unreadable(f"a second '-- {kind}' annotation")
    up = next((c for c in found if c.text == UP), None)
    down = next((c for c in found if c.text == DOWN), None)
    if up is None:
        raise Unreadable("no '-- +goose Up' annotation")
    if down is not None and down.start < up.start:
        raise Unreadable("'-- +goose Down' comes before '-- +goose Up'")
    dropped = [c for c in found if c.text in DROPPED]
    up_end = down.start if down is not None else len(text)
    return SourceMigration(
        version,
        title,
        _without(text, up.end, up_end, dropped),
        None if down is None else _without(text, down.end, len(text), dropped),
        Origin(name, source.line(up.start)),
        None if down is None else Origin(name, source.line(down.start)),
        "goose NO TRANSACTION" if NO_TRANSACTION in kinds else None,
    )


def read(directory: Path) -> Reading:
    """Every SQL migration of ``directory``; Go migrations are listed as not imported."""
    migrations: list[SourceMigration] = []
    skipped: list[Skipped] = []
    for path, name in files(directory):
        version, sep, title = path.stem.partition("_")
        if path.suffix == ".go":
            skipped.append(Skipped(name, "a Go migration: rewrite it as SQL"))
        elif path.suffix != ".sql" or not sep or not version.isdigit() or not version.isascii():
            skipped.append(Skipped(name, "not a goose SQL migration name ({version}_{name}.sql)"))
        else:
            try:
                migrations.append(_migration(name, version, title, read_text(path)))
            except Unreadable as exc:
                skipped.append(Skipped(name, str(exc)))
    return Reading(TOOL, tuple(migrations), tuple(skipped))
