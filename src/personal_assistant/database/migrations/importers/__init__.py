"""``pa-db migrate import``: another tool's migration directory as pa-db files.

One reader per tool (:mod:`.golang_migrate`, :mod:`.dbmate`, :mod:`.flyway`,
:mod:`.goose`) turns its directory into source migrations and lists what it cannot
map; :mod:`.convert` makes each one a pa-db file (``NNNN_description.sql`` with
``-- migrate:up`` / ``-- migrate:down`` / ``-- migrate:no-transaction``), keeping its
version and description; :mod:`.writer` writes them idempotently. Nothing touches a
database: ``pa-db migrate adopt`` then records what the old tool had applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from personal_assistant.database.migrations.errors import MigrationFileError
from personal_assistant.database.migrations.importers import dbmate, flyway, golang_migrate, goose
from personal_assistant.database.migrations.importers.convert import convert
from personal_assistant.database.migrations.importers.model import (
    ConvertedFile,
    ImportReport,
    Reading,
    Skipped,
)
from personal_assistant.database.migrations.importers.writer import plan_writes, write

__all__ = ["READERS", "SOURCES", "ImportReport", "Skipped", "import_directory", "read_source"]

READERS: dict[str, Callable[[Path], Reading]] = {
    golang_migrate.TOOL: golang_migrate.read,
    dbmate.TOOL: dbmate.read,
    flyway.TOOL: flyway.read,
    goose.TOOL: goose.read,
}
SOURCES = tuple(READERS)


def read_source(tool: str, source: Path) -> tuple[list[ConvertedFile], list[Skipped]]:
    """The pa-db files ``source`` converts to (by version) and what could not be mapped."""
    if tool not in READERS:
        raise ValueError(f"unknown tool {tool!r}; one of {', '.join(SOURCES)}")
    if not source.is_dir():
        raise MigrationFileError(str(source), 1, f"{tool} migration directory does not exist")
    reading = READERS[tool](source)
    converted: list[ConvertedFile] = []
    skipped = list(reading.skipped)
    for migration in reading.migrations:
        result = convert(tool, migration)
        if isinstance(result, ConvertedFile):
            converted.append(result)
        else:
            skipped.append(result)
    converted.sort(key=lambda f: (f.version, f.name))
    skipped.sort(key=lambda s: s.source)
    return converted, skipped


def import_directory(tool: str, source: Path, target: Path) -> ImportReport:
    """Convert ``source`` and write the files into ``target``; idempotent.

    Raises :class:`ImportConflictError` (writing nothing) when a file would replace a
    different one or a version is taken.
    """
    converted, skipped = read_source(tool, source)
    to_write, unchanged = plan_writes(converted, target)
    written = write(to_write, target)
    notes = tuple((f.name, note) for f in converted for note in f.notes)
    return ImportReport(tool, tuple(written), tuple(unchanged), tuple(skipped), notes)
