"""Alembic revisions to pa-db versions: a ``--map`` file, or comments in the files.

``--map`` is TOML or JSON: ``"ae1027a6acf" = 3`` (optionally under ``[revisions]``).
A migration file may instead say which revision it corresponds to with a
``-- alembic: ae1027a6acf`` comment (found by PostgreSQL's scanner, like every marker).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from personal_assistant.database.migrations.errors import AdoptionError
from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.sql_parse import SqlText

COMMENT_PREFIX = "alembic:"


def _entries(data: Any, path: Path) -> dict[str, int]:
    if isinstance(data, dict) and isinstance(data.get("revisions"), dict):
        data = data["revisions"]
    if not isinstance(data, dict):
        raise AdoptionError(f"{path}: expected a table of revision = version")
    found = {}
    for revision, version in data.items():
        if isinstance(version, str) and version.isdigit() and version.isascii():
            version = int(version)
        if not isinstance(version, int) or isinstance(version, bool):
            raise AdoptionError(f"{path}: revision {revision} maps to {version!r}, not a version")
        found[str(revision)] = version
    return found


def load_map(path: Path) -> dict[str, int]:
    """Read a ``--map`` file (``.json``, else TOML)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise AdoptionError(f"{path}: cannot read the revision map ({exc})") from exc
    return _entries(data, path)


def from_comments(files: Sequence[MigrationFile]) -> dict[str, int]:
    """``-- alembic: REV`` comments of the files (each file read and scanned once)."""
    found: dict[str, int] = {}
    for file in files:
        source = SqlText(file.path.read_text(encoding="utf-8"), str(file.path))
        for comment in source.comments:
            if comment.text.startswith(COMMENT_PREFIX):
                revision = comment.text.removeprefix(COMMENT_PREFIX).strip()
                _add(found, revision, file.version, str(file.path))
    return found


def _add(found: dict[str, int], revision: str, version: int, where: str) -> None:
    if found.get(revision, version) != version:
        raise AdoptionError(
            f"{where}: revision {revision} maps to both {found[revision]} and {version}"
        )
    found[revision] = version


def revision_map(files: Sequence[MigrationFile], path: Path | None) -> Mapping[str, int]:
    """Both sources merged; one revision mapped to two versions is an error."""
    found = from_comments(files)
    for revision, version in (load_map(path) if path is not None else {}).items():
        _add(found, revision, version, str(path))
    return found
