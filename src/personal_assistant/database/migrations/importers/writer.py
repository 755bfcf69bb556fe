"""Write converted files into a migration directory, idempotently.

Everything is checked before the first file is written: a file of the same name with
the same text is left as it is (so importing twice changes nothing), one with other
text is an :class:`ImportConflictError` naming it, and so is a version the directory
already uses under another name or that two source migrations map to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from personal_assistant.database.migrations.errors import ImportConflictError, MigrationFileError
from personal_assistant.database.migrations.files import SUFFIX, parse_name
from personal_assistant.database.migrations.importers.model import ConvertedFile


def _existing(target: Path) -> dict[int, Path]:
    """Version -> file for every migration file already in ``target``."""
    found: dict[int, Path] = {}
    if not target.is_dir():
        return found
    for path in sorted(target.glob(f"*{SUFFIX}")):
        try:
            found[parse_name(path)[0]] = path
        except MigrationFileError:
            continue  # not a migration file: ``up`` will say so, import leaves it alone
    return found


def plan_writes(
    files: Sequence[ConvertedFile], target: Path
) -> tuple[list[ConvertedFile], list[Path]]:
    """``(files to write, paths already up to date)``; raises :class:`ImportConflictError`."""
    existing = _existing(target)
    seen: dict[int, ConvertedFile] = {}
    to_write: list[ConvertedFile] = []
    unchanged: list[Path] = []
    for file in files:
        path = target / file.name
        sources = ", ".join(file.sources)
        if (twin := seen.get(file.version)) is not None:
            raise ImportConflictError(
                str(path), f"version {file.version} comes from both {twin.sources[0]} and {sources}"
            )
        seen[file.version] = file
        other = existing.get(file.version)
        if other is not None and other.name != file.name:
            raise ImportConflictError(
                str(other), f"already uses version {file.version}, which {sources} would bring"
            )
        if other is None:
            to_write.append(file)
        elif path.read_text(encoding="utf-8") == file.text:
            unchanged.append(path)
        else:
            raise ImportConflictError(
                str(path), f"exists and differs from what importing {sources} gives"
            )
    return to_write, unchanged


def write(files: Sequence[ConvertedFile], target: Path) -> list[Path]:
    """Write ``files`` (already checked by :func:`plan_writes`) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        path = target / file.name
        path.write_text(file.text, encoding="utf-8", newline="\n")
        written.append(path)
    return written
