"""Flyway: ``V{version}__{description}.sql`` with optional ``U{version}__...`` undo files.

What maps: versioned SQL migrations whose version is a whole number (``V1``, ``V002``,
``V20240101120000``), each with its undo file as the down section, and a
``.sql.conf`` script configuration saying ``executeInTransaction=false``. What does
not, and is listed: repeatable (``R__``) and baseline (``B``) migrations, Java and
other script migrations, dotted versions (``V1.1``, ``V1_1``) and files that use
Flyway placeholders (``${...}``, which pa-db does not substitute). Flyway looks in
subdirectories of its locations, and so does the import.
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

TOOL = "flyway"
#: Flyway's default prefixes and separator: ``V1_2__add_users.sql``.
NAME = re.compile(r"^(?P<prefix>[VUBR])(?P<version>[^_]*(?:_[^_]+)*?)__(?P<desc>.*)\.sql$")
JVM_SUFFIXES = (".java", ".class", ".kt", ".scala", ".groovy")
SCRIPT_SUFFIXES = (".sh", ".bash", ".ps1", ".cmd", ".bat", ".py")
PLACEHOLDER = "${"


def _config(path: Path) -> dict[str, str]:
    """The ``key=value`` lines of a ``.sql.conf`` script configuration, if there is one."""
    conf = path.with_name(path.name + ".conf")
    if not conf.is_file():
        return {}
    pairs = (line.split("=", 1) for line in read_text(conf).splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _skip_reason(prefix: str, version: str) -> str | None:
    if prefix == "R":
        return (
            "a repeatable migration (Flyway re-runs it whenever it changes); pa-db has none: "
            "add its SQL as a new versioned migration whenever it changes"
        )
    if prefix == "B":
        return "a baseline migration (Flyway Teams); pa-db uses 'pa-db migrate baseline' instead"
    if not version.isdigit() or not version.isascii():
        return (
            f"version {version.replace('_', '.')} is not a whole number; pa-db versions are "
            "digit strings: rename it (e.g. V1_1 to V101) and import again"
        )
    return None


def _unmatched(name: str) -> str:
    if name.endswith(JVM_SUFFIXES):
        return "a Java (JVM) migration: rewrite it as SQL"
    if name.endswith(SCRIPT_SUFFIXES):
        return "a script migration: rewrite it as SQL"
    return "not a Flyway SQL migration name (V{version}__{description}.sql)"


def read(directory: Path) -> Reading:
    """Versioned migrations and their undo files, from ``directory`` and below."""
    versioned: dict[int, tuple[str, str, Path, str]] = {}  # int -> (version, desc, path, name)
    undo: dict[int, tuple[str, Path]] = {}
    skipped: list[Skipped] = []
    for path, name in files(directory, recursive=True):
        if name.endswith(".sql.conf"):
            continue
        match = NAME.match(path.name)
        if match is None:
            skipped.append(Skipped(name, _unmatched(name)))
            continue
        prefix, version, desc = match["prefix"], match["version"], match["desc"]
        reason = _skip_reason(prefix, version)
        if reason is None and int(version) in (versioned if prefix == "V" else undo):
            reason = f"a second {'versioned' if prefix == 'V' else 'undo'} file for {version}"
        if reason is not None:
            skipped.append(Skipped(name, reason))
        elif prefix == "V":
            versioned[int(version)] = (version, desc, path, name)
        else:
            undo[int(version)] = (name, path)
    migrations: list[SourceMigration] = []
    for number, (version, desc, path, name) in sorted(versioned.items()):
        try:
            migrations.append(_migration(version, desc, path, name, undo.pop(number, None)))
        except Unreadable as exc:
            skipped.append(Skipped(name, str(exc)))
    skipped += [
        Skipped(name, "an undo file without a versioned migration") for name, _ in undo.values()
    ]
    return Reading(TOOL, tuple(migrations), tuple(skipped))


def _migration(
    version: str, desc: str, path: Path, name: str, undo: tuple[str, Path] | None
) -> SourceMigration:
    up = read_text(path)
    down = None if undo is None else read_text(undo[1])
    if PLACEHOLDER in up or (down is not None and PLACEHOLDER in down):
        raise Unreadable("uses Flyway placeholders (${...}), which pa-db does not substitute")
    config = _config(path)
    outside = config.get("executeInTransaction", "true").lower() == "false"
    return SourceMigration(
        version,
        desc,
        up,
        down,
        Origin(name),
        None if undo is None else Origin(undo[0]),
        f"Flyway executeInTransaction=false ({path.name}.conf)" if outside else None,
    )
