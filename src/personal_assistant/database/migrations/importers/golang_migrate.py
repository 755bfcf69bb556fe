"""golang-migrate: ``{version}_{title}.up.sql`` with an optional ``.down.sql`` twin.

golang-migrate runs each file as it is, so the pair becomes one pa-db file with both
sections; an up without a down file is irreversible, an empty file a no-op. Files
golang-migrate would not read as SQL migrations are listed with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from personal_assistant.database.migrations.importers.model import (
    Origin,
    Reading,
    Skipped,
    SourceMigration,
)
from personal_assistant.database.migrations.importers.sources import Unreadable, files, read_text

TOOL = "golang-migrate"
#: golang-migrate's own pattern (``source/parse.go``): the title is greedy.
NAME = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")


def _pair(
    version: str, up: tuple[str, str, str], down: tuple[str, str, str] | None
) -> SourceMigration:
    title, name, text = up
    if down is None:
        return SourceMigration(version, title, text, None, Origin(name))
    return SourceMigration(version, title, text, down[2], Origin(name), Origin(down[1]))


def read(directory: Path) -> Reading:
    """Pair the up and down files of ``directory`` by version."""
    found: dict[tuple[str, str], tuple[str, str, str]] = {}  # (version, up|down) -> file
    skipped: list[Skipped] = []
    for path, name in files(directory):
        match = NAME.match(name)
        if match is None:
            skipped.append(Skipped(name, "not a golang-migrate name ({version}_{title}.up.sql)"))
            continue
        version, title, direction, ext = match.groups()
        if ext != "sql":
            skipped.append(Skipped(name, f"not SQL (.{ext}): only .sql migrations are imported"))
        elif (version, direction) in found:
            skipped.append(Skipped(name, f"a second {direction} file for version {version}"))
        else:
            try:
                found[version, direction] = (title, name, read_text(path))
            except Unreadable as exc:
                skipped.append(Skipped(name, str(exc)))
    migrations = [
        _pair(version, file, found.get((version, "down")))
        for (version, direction), file in found.items()
        if direction == "up"
    ]
    skipped += [
        Skipped(file[1], "a down file without an up file")
        for (version, direction), file in found.items()
        if direction == "down" and (version, "up") not in found
    ]
    return Reading(TOOL, tuple(migrations), tuple(skipped))
